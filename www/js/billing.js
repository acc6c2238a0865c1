/*
 * Billing: the plan with its price and allowance; this period's overage,
 * what the ledger has invoiced and what is pending; a projected bill; the
 * plans side by side with a link to the platform's checkout. Money comes
 * as integer cents (per-call prices as micro-dollars) and stays integer.
 */
import * as api from './api.js';
import { el, facts, panel, safeUrl, section, table } from './dom.js';
import * as fmt from './format.js';
import { start } from './shell.js';

const DAY_MS = 86400000;

function allowance(p) {
	return p.monthly_calls === null || p.monthly_calls === undefined ?
	    'Unlimited calls' : `${fmt.count(p.monthly_calls)} calls a month`;
}

function pastLimit(p) {
	if (p.monthly_calls === null || p.monthly_calls === undefined)
		return 'No limit, no overage.';
	if (p.hard_limit)
		return 'Calls past the allowance are refused until the period resets.';
	if (p.overage_micros_per_call > 0)
		return `${fmt.microMoney(p.overage_micros_per_call)} a call past the allowance, billed as overage.`;
	return 'Calls past the allowance are not charged.';
}

function drawPlan(box, c) {
	const p = c.plan;
	box.append(el('p', { class: 'big' }, [el('span', { testid: 'plan-name' }, p.name)]));
	box.append(facts([
		['Price', `${fmt.money(p.price_cents)} a month`],
		['Included', allowance(p)],
		['Past the allowance', pastLimit(p)],
	]));
}

/*
 * The period's bill if calls go on at the pace so far: plan price plus
 * the overage of the projected calls, in integer cents. Null in the
 * period's first day, when a pace means little.
 */
function projection(c) {
	const start = Date.parse(c.period.start), end = Date.parse(c.period.end);
	const now = Math.min(Date.now(), end);
	if (!(now - start >= DAY_MS))
		return null;
	const calls = BigInt(c.calls_used) * BigInt(end - start) / BigInt(now - start);
	let over = 0n;
	if (c.limit !== null && !c.plan.hard_limit && calls > BigInt(c.limit))
		over = (calls - BigInt(c.limit)) * BigInt(c.plan.overage_micros_per_call) / 10000n;
	return { calls: Number(calls), overCents: Number(over), cents: c.plan.price_cents + Number(over) };
}

function drawPeriod(box, [c, o]) {
	const cur = o.periods?.find((v) => v.start === c.period.start) ?? {};
	box.append(el('p', { class: 'lead' }, fmt.period(c.period.start, c.period.end)));
	const pairs = [
		['Calls', c.limit === null ? fmt.calls(c.calls_used) :
		    `${fmt.count(c.calls_used)} of ${fmt.calls(c.limit)}`],
		['Overage calls', fmt.count(o.bills_overage ? (cur.overage_calls ?? c.overage_calls) : 0)],
		['Overage cost', el('span', { testid: 'overage-cost' },
		    fmt.money(o.bills_overage ? (cur.cost_cents ?? c.overage_cost_cents) : 0))],
	];
	if (o.bills_overage) {
		pairs.push(['Invoiced', `${fmt.money(cur.billed_cents ?? 0)} (sent to Stripe)`]);
		pairs.push(['Pending', `${fmt.money(cur.pending_cents ?? 0)} (being sent)`]);
		pairs.push(['Not yet invoiced', fmt.money(cur.not_yet_invoiced_cents ?? 0)]);
	}
	box.append(facts(pairs));
	if (!o.bills_overage && o.reason)
		box.append(el('p', { class: 'note' }, o.reason));
	else
		box.append(el('p', { class: 'muted small' },
		    'Overage is invoiced once a day, in whole cents; a fraction of a cent waits for a later run.'));

	const proj = projection(c);
	const bill = el('div', { class: 'projection', testid: 'projection' });
	if (proj === null) {
		bill.append(el('p', {}, [el('strong', {}, 'Projected bill: '),
		    `too early in the period to project. So far: ${fmt.money(c.plan.price_cents + (c.overage_cost_cents ?? 0))}.`]));
	} else {
		bill.append(el('p', {}, [el('strong', {}, 'Projected bill for the period: '),
		    el('span', { class: 'big-inline' }, fmt.money(proj.cents))]));
		bill.append(el('p', { class: 'muted small' },
		    `${fmt.money(c.plan.price_cents)} plan + ${fmt.money(proj.overCents)} overage, ` +
		    `if calls go on at the pace so far (about ${fmt.calls(proj.calls)} this period).`));
	}
	box.append(bill);
}

function drawPast(box, [c, o]) {
	const past = (o.periods ?? []).filter((v) => v.start !== c.period.start &&
	    (v.overage_calls > 0 || v.billed_cents > 0));
	const rows = past.map((v) => [v.period, fmt.count(v.overage_calls),
	    fmt.money(v.cost_cents), fmt.money(v.billed_cents), fmt.money(v.pending_cents)]);
	if (rows.length === 0)
		rows.push([o.bills_overage ? 'No overage in earlier periods.' : 'Your plan has no overage.']);
	box.append(table('Overage by billing period (UTC months)',
	    [['Period'], ['Overage calls', 'num'], ['Cost', 'num'], ['Invoiced', 'num'], ['Pending', 'num']],
	    rows, { testid: 'periods-table' }));
}

function drawPlans(box, [c, cfg]) {
	const upgrade = cfg.upgrade_url ? safeUrl(cfg.upgrade_url) : null;
	if (Array.isArray(cfg.plans) && cfg.plans.length > 0) {
		const list = el('ul', { class: 'plans', testid: 'plans' });
		for (const p of cfg.plans) {
			const mine = p.id === c.plan.id;
			list.append(el('li', { class: mine ? 'plan mine' : 'plan' }, [
				el('h3', {}, p.name),
				el('p', { class: 'price' }, [el('strong', {}, fmt.money(p.price_cents)), ' a month']),
				el('p', {}, allowance(p)),
				el('p', { class: 'muted' }, pastLimit(p)),
				mine ? el('p', { class: 'badge' }, 'Your plan') : null,
			]));
		}
		box.append(list);
	} else {
		box.append(el('p', { class: 'muted' }, 'The list of plans is not available right now.'));
	}
	if (upgrade) {
		box.append(el('p', { class: 'actions' }, [
			el('a', { class: 'button primary', href: upgrade, testid: 'upgrade' }, 'Change plan'),
			el('span', { class: 'muted' }, 'Plan changes happen in your account\u2019s checkout.'),
		]));
	} else {
		box.append(el('p', { class: 'muted' }, 'Plan changes happen in your account on the platform.'));
	}
}

start((main) => {
	const plan = section('Your plan', { class: 'card' });
	const period = section('This period', { class: 'card' });
	const past = section('Earlier periods', { class: 'card' });
	const plans = section('Plans', { class: 'card' });
	const boxes = [plan, period, past, plans].map((s) => s.appendChild(el('div')));
	main.append(el('h1', {}, 'Billing'), el('div', { class: 'pair' }, [plan, period]), plans, past);
	const current = api.shared(() => api.get('/api/usage/current'));
	const overage = api.shared(() => api.get('/api/usage/overage'));
	panel(boxes[0], current, drawPlan);
	panel(boxes[1], () => Promise.all([current(), overage()]), drawPeriod);
	panel(boxes[2], () => Promise.all([current(), overage()]), drawPast);
	panel(boxes[3], () => Promise.all([current(), api.portalConfig()]), drawPlans);
});
