/*
 * Billing: the plan with its price and allowance; this period's overage,
 * what the ledger has invoiced and what is pending; a projected bill; the
 * overage spend cap, how close the period is to it, and a form that sets,
 * changes or removes it (GET/PUT /api/billing/spend-cap; removal asks in
 * the page first); the plans side by side with a link to the platform's
 * checkout. Money comes as integer cents (per-call prices as
 * micro-dollars) and stays integer.
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
 * the overage of the projected calls, in integer cents; a spend cap stops
 * the calls at its limit. Null in the period's first day, when a pace
 * means little.
 */
function projection(c) {
	const start = Date.parse(c.period.start), end = Date.parse(c.period.end);
	const now = Math.min(Date.now(), end);
	if (!(now - start >= DAY_MS))
		return null;
	let calls = BigInt(c.calls_used) * BigInt(end - start) / BigInt(now - start);
	if (c.spend_cap && c.spend_cap.limit !== null && calls > BigInt(c.spend_cap.limit))
		calls = BigInt(c.spend_cap.limit);
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
		const capped = c.spend_cap ? ` (your spend cap stops it at ${fmt.money(c.spend_cap.cap_cents)})` : '';
		bill.append(el('p', { class: 'muted small' },
		    `${fmt.money(c.plan.price_cents)} plan + ${fmt.money(proj.overCents)} overage${capped}, ` +
		    `if calls go on at the pace so far (about ${fmt.calls(proj.calls)} this period).`));
	}
	box.append(bill);
}

let capBox = null;

function capBound(cap) {
	const ttl = cap.key_cache_ttl;
	return Number.isInteger(ttl) ? `within ${fmt.count(ttl)} ${ttl === 1 ? 'second' : 'seconds'}` :
	    'within the key cache lifetime';
}

/* Where the period stands against the cap, in words and a meter. */
function capStanding(cap) {
	const parts = [];
	const spent = Math.min(cap.overage_calls, cap.cap_calls);
	const meter = el('meter', {
		id: 'cap-meter', min: 0, max: Math.max(cap.cap_calls, 1), value: cap.cap_calls > 0 ? spent : 1,
		testid: 'cap-meter', 'aria-describedby': 'cap-usage',
	});
	parts.push(el('p', {}, [el('label', { for: 'cap-meter' }, 'Overage spent against the cap: '), meter]));
	const pct = cap.percent_of_cap === null ? '' : ` (${fmt.percent(cap.percent_of_cap / 100)})`;
	parts.push(el('p', { id: 'cap-usage', testid: 'cap-usage' },
	    `${fmt.money(cap.overage_cents)} of ${fmt.money(cap.cap_cents)} spent${pct}: ` +
	    `${fmt.calls(cap.remaining)} left of ${fmt.count(cap.limit)} this period ` +
	    `(${fmt.count(cap.included_calls)} included, ${fmt.count(cap.cap_calls)} overage calls at ` +
	    `${fmt.microMoney(cap.price_per_call_micros)} that the cap pays for).`));
	if (cap.reached)
		parts.push(el('p', { class: 'note warn', testid: 'cap-reached' },
		    `The cap is reached: calls are refused (429 spend_cap_reached) until ${fmt.dayUtc(cap.resets_at)}, ` +
		    'or until you raise or remove the cap.'));
	return parts;
}

/* Cents as the form shows them: 2550 -> "25.50". */
function centsText(c) {
	return `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
}

/* The form that sets or changes the cap. */
function capForm(cap) {
	const amount = el('input', {
		id: 'cap-amount', name: 'cap', type: 'text', inputmode: 'decimal', autocomplete: 'off',
		placeholder: '25.00', testid: 'cap-amount', 'aria-describedby': 'cap-help',
		value: cap.cap_cents === null ? '' : centsText(cap.cap_cents),
	});
	const problem = el('p', { class: 'field-error', role: 'alert', testid: 'cap-error' });
	const save = el('button', { type: 'submit', class: 'primary', testid: 'cap-save' },
	    cap.cap_cents === null ? 'Set cap' : 'Change cap');
	const form = el('form', { class: 'create' }, [
		el('div', { class: 'field' }, [
			el('label', { for: 'cap-amount' }, 'Most overage a month, in US dollars'),
			amount,
			el('p', { id: 'cap-help', class: 'muted small' },
			    `Whole cents, from $0.00 to ${fmt.money(cap.max_cap_cents)}. ` +
			    '$0.00 allows no overage at all: calls stop at your allowance.'),
		]),
		el('div', { class: 'field' }, [save]),
		problem,
	]);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		problem.textContent = '';
		const cents = fmt.dollarsToCents(amount.value);
		if (cents === null || cents > cap.max_cap_cents) {
			problem.textContent = `Enter an amount in dollars and cents, from $0.00 to ${fmt.money(cap.max_cap_cents)}.`;
			amount.focus();
			return;
		}
		save.disabled = true;
		try {
			const answer = await api.put('/api/billing/spend-cap', { cap_cents: cents });
			drawCap(capBox, answer, `Saved: your cap is ${fmt.money(answer.cap_cents)} a month. ` +
			    `It holds at once, and on every server ${capBound(answer)}.`);
		} catch (e) {
			save.disabled = false;
			if (e.status !== 401)
				problem.textContent = `The cap was not changed: ${e.message}`;
		}
	});
	return form;
}

/* The button that removes the cap (after askRemove), or null without one. */
function removeButton(cap) {
	if (cap.cap_cents === null)
		return null;
	const remove = el('button', { type: 'button', class: 'danger', testid: 'cap-remove' }, 'Remove cap');
	remove.addEventListener('click', () => askRemove(remove));
	return el('p', { class: 'actions' }, [remove]);
}

/* Removing lets overage run without limit: ask in the page first. */
function askRemove(from) {
	const holder = from.parentElement;
	if (holder.nextElementSibling?.classList.contains('confirm'))
		return;
	const yes = el('button', { type: 'button', class: 'danger', testid: 'cap-confirm' }, 'Remove the cap');
	const no = el('button', { type: 'button', testid: 'cap-cancel' }, 'Keep it');
	const problem = el('p', { class: 'field-error', role: 'alert' });
	const box = el('div', { class: 'confirm note warn', role: 'group', 'aria-label': 'Remove the cap' }, [
		el('p', {}, 'Without a cap, calls past your allowance are served and billed as overage without limit.'),
		el('p', { class: 'actions' }, [yes, no]),
		problem,
	]);
	no.addEventListener('click', () => {
		box.remove();
		from.focus();
	});
	yes.addEventListener('click', async () => {
		yes.disabled = no.disabled = true;
		try {
			const answer = await api.put('/api/billing/spend-cap', { cap_cents: null });
			drawCap(capBox, answer, `Removed: overage is no longer capped, on every server ${capBound(answer)}.`);
		} catch (e) {
			yes.disabled = no.disabled = false;
			if (e.status !== 401)
				problem.textContent = `The cap was not removed: ${e.message}`;
		}
	});
	holder.after(box);
	yes.focus();
}

/* The spend cap card: its state, where the period stands, the form. */
function drawCap(box, cap, saved) {
	box.replaceChildren();
	if (saved)
		box.append(el('p', { class: 'note', role: 'status', testid: 'cap-saved' }, saved));
	if (!cap.available) {
		box.append(el('p', { testid: 'cap-status' },
		    'Your plan bills no overage, so there is nothing to cap.'));
		if (cap.cap_cents !== null)
			box.append(el('p', { class: 'muted' },
			    `A cap of ${fmt.money(cap.cap_cents)} is kept for a plan that bills overage.`),
			    removeButton(cap));
		return;
	}
	box.append(el('p', { class: 'lead', testid: 'cap-status' }, cap.cap_cents === null ?
	    'No cap: calls past your allowance are served and billed as overage without limit.' :
	    `Cap: ${fmt.money(cap.cap_cents)} of overage a month.`));
	if (cap.cap_cents !== null)
		box.append(...capStanding(cap));
	box.append(capForm(cap));
	const remove = removeButton(cap);
	if (remove)
		box.append(remove);
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
	const cap = section('Overage spend cap', { class: 'card', testid: 'spend-cap' });
	const boxes = [plan, period, past, plans, cap].map((s) => s.appendChild(el('div')));
	capBox = boxes[4];
	main.append(el('h1', {}, 'Billing'), el('div', { class: 'pair' }, [plan, period]), cap, plans, past);
	const current = api.shared(() => api.get('/api/usage/current'));
	const overage = api.shared(() => api.get('/api/usage/overage'));
	panel(boxes[0], current, drawPlan);
	panel(boxes[1], () => Promise.all([current(), overage()]), drawPeriod);
	panel(boxes[2], () => Promise.all([current(), overage()]), drawPast);
	panel(boxes[3], () => Promise.all([current(), api.portalConfig()]), drawPlans);
	panel(boxes[4], () => api.get('/api/billing/spend-cap'), (box, c) => drawCap(box, c));
});
