/*
 * One user, as the operators see them (admin-user.html?id=eco_usr_...):
 * the account and plan, this period's calls against the allowance, calls
 * per day and per endpoint over 30 days, the API keys (never a secret),
 * the overage ledger's rows and the audit entries about the user; and the
 * actions, each confirmed in the page: change the plan, revoke a key,
 * retry a failed ledger row.
 */
import { barChart } from './charts.js';
import { ask, el, facts, panel, section, table } from './dom.js';
import * as fmt from './format.js';
import * as admin from './admin-frame.js';

let id = null;
let content = null;
let notice = null;
let title = null;
let ttl = null;		/* key_cache_ttl, seconds */

const path = () => `/api/admin/users/${encodeURIComponent(id)}`;

function bound() {
	return ttl === null ? 'within the key cache lifetime' :
	    `within ${fmt.count(ttl)} ${ttl === 1 ? 'second' : 'seconds'}`;
}

/* Says what an action did, where a screen reader hears it, and reloads. */
function done(text) {
	notice.replaceChildren(el('p', { class: 'note', role: 'status', testid: 'admin-notice' }, text));
	load().then(() => notice.focus());
}

function allowance(p) {
	return p.monthly_calls === null ? 'unlimited calls' : `${fmt.count(p.monthly_calls)} calls a month`;
}

function planForm(u) {
	const select = el('select', { id: 'admin-set-plan', testid: 'admin-set-plan' },
	    u.plans.map((p) => el('option', { value: p.plan }, p.name)));
	select.value = u.user.plan;
	const button = el('button', { type: 'submit', testid: 'admin-set-plan-submit' }, 'Change plan');
	const problem = el('p', { class: 'field-error', role: 'alert', testid: 'admin-plan-error' });
	const form = el('form', { class: 'inline' }, [
		el('label', { for: 'admin-set-plan' }, 'Move to the plan'), select, button, problem,
	]);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		problem.textContent = '';
		const to = u.plans.find((p) => p.plan === select.value);
		if (!to || to.plan === u.user.plan) {
			problem.textContent = `Choose another plan: the user is on ${u.plan.name} already.`;
			return;
		}
		ask(form, button, [
			el('p', {}, `Move ${u.user.email} from ${u.plan.name} to ${to.name}?`),
			el('p', { class: 'muted' }, 'This period’s allowance, price and revenue change at once. ' +
			    `The user’s API keys follow at once on this server and ${bound()} on the others.`),
		], `Move to ${to.name}`, 'primary', async () => {
			await admin.put(`${path()}/plan`, { plan: to.plan });
			done(`${u.user.email} is now on the ${to.name} plan (was ${u.plan.name}).`);
		});
	});
	return form;
}

/* The spend cap: where it stands, and a form to set or remove it. */
function capForm(u) {
	const cap = u.spend_cap;
	const input = el('input', { id: 'admin-cap', type: 'text', inputmode: 'decimal', size: 10,
	    testid: 'admin-cap-input', value: cap.applies ? fmt.money(cap.cap_cents).replace('$', '') : '' });
	const set = el('button', { type: 'submit', testid: 'admin-set-cap' }, 'Set cap');
	const problem = el('p', { class: 'field-error', role: 'alert', testid: 'admin-cap-error' });
	const form = el('form', { class: 'inline' }, [
		el('label', { for: 'admin-cap' }, 'Overage cap a month, in dollars'), input, set, problem,
	]);
	const change = (cents, what) => ask(form, set, [
		el('p', {}, `${what} for ${u.user.email}?`),
		el('p', { class: 'muted' }, 'Past the cap, calls are refused with 429 spend_cap_reached and the biller ' +
		    `bills no more. It holds at once on this server and ${bound()} on the others.`),
	], what, 'primary', async () => {
		await admin.put(`${path()}/spend-cap`, { cap_cents: cents });
		done(cents === null ? `${u.user.email} has no spend cap now.` :
		    `${u.user.email}’s spend cap is ${fmt.money(cents)} a month.`);
	});
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		problem.textContent = '';
		const cents = fmt.dollarsToCents(input.value);
		if (cents === null) {
			problem.textContent = 'Type an amount in dollars, such as 25 or 25.50.';
			return;
		}
		change(cents, `Set the cap to ${fmt.money(cents)}`);
	});
	if (cap.applies) {
		const remove = el('button', { type: 'button', testid: 'admin-remove-cap' }, 'Remove cap');
		remove.addEventListener('click', () => change(null, 'Remove the cap'));
		form.append(remove);
	}
	return form;
}

function capText(cap) {
	if (!cap.available)
		return `none: the ${cap.plan} plan bills no overage`;
	if (!cap.applies)
		return 'none: overage is billed without a limit';
	return `${fmt.money(cap.cap_cents)} a month: ${fmt.money(cap.overage_cents)} spent, ` +
	    `${cap.reached ? 'reached, calls refused' : `${fmt.calls(cap.remaining)} left`}`;
}

function drawAccount(box, u) {
	box.append(facts([
		['Plan', el('span', { testid: 'admin-user-plan', 'data-plan': u.user.plan }, u.plan.name)],
		['Price', `${fmt.money(u.plan.price.cents)} a month`],
		['Included', allowance(u.plan)],
		['Stripe customer', u.user.stripe_customer_id ?
		    el('code', { testid: 'admin-user-customer' }, u.user.stripe_customer_id) : 'none'],
		['Created', fmt.time(u.user.created_at)],
		['User id', el('code', {}, u.user.id)],
		['Spend cap', el('span', { testid: 'admin-spend-cap' },
		    u.spend_cap ? capText(u.spend_cap) : 'not available right now')],
	]));
	box.append(planForm(u));
	if (u.spend_cap && u.spend_cap.available)
		box.append(capForm(u));
}

function drawPeriod(box, u) {
	const c = u.period;
	box.append(el('p', { class: 'lead' }, fmt.period(c.start, c.end)));
	box.append(el('p', { class: 'big' }, [
		el('span', { testid: 'admin-user-calls' }, fmt.count(c.calls)), ' of ',
		c.limit === null ? 'unlimited' : fmt.count(c.limit), ' calls',
	]));
	if (c.limit !== null) {
		const bar = el('progress', { max: Math.max(c.limit, 1), value: Math.min(c.calls, c.limit),
		    'aria-label': 'Calls used this period' });
		if (c.calls >= c.limit)
			bar.classList.add('full');
		box.append(bar);
	}
	box.append(facts([
		['Remaining', c.remaining === null ? 'no monthly limit' : fmt.calls(c.remaining)],
		['Overage calls', fmt.count(c.overage_calls)],
		['Overage so far', fmt.money(c.overage_cost.cents)],
		['Revenue this period', el('span', { testid: 'admin-user-revenue' }, fmt.money(c.revenue.cents))],
	]));
	if (u.plan.hard_limit && c.limit !== null && c.calls >= c.limit)
		box.append(el('p', { class: 'note warn' },
		    `The limit is reached: calls are refused until ${fmt.time(c.end)}.`));
}

function drawDaily(box, u) {
	const d = u.daily;
	const total = d.history.reduce((n, x) => n + x.calls, 0);
	const errors = d.history.reduce((n, x) => n + x.errors, 0);
	const canvas = el('canvas', { testid: 'admin-user-chart', role: 'img',
	    'aria-label': `Bar chart: the user’s calls and errors per day, ${d.from} to ${d.to} (UTC). ` +
		'The figures are in the table below.' });
	const frame = el('div', { class: 'chart' }, [canvas]);
	box.append(frame, el('p', { testid: 'admin-user-daily-summary' },
	    `${d.from} to ${d.to} (UTC): ${fmt.calls(total)}, ${fmt.count(errors)} ${errors === 1 ? 'error' : 'errors'}.`));
	box.append(el('details', {}, [
		el('summary', {}, 'The figures, day by day'),
		table(`Calls and errors per day, ${d.from} to ${d.to}`,
		    [['Day (UTC)'], ['Calls', 'num'], ['Errors', 'num']],
		    d.history.slice().reverse().map((x) => [x.date, fmt.count(x.calls), fmt.count(x.errors)])),
	]));
	barChart(canvas, {
		title: `Calls per day, last ${d.days} days (UTC)`,
		labels: d.history.map((x) => x.date),
		series: [
			{ label: 'Calls', data: d.history.map((x) => x.calls), color: '--accent' },
			{ label: 'Errors', data: d.history.map((x) => x.errors), color: '--danger' },
		],
		xTitle: 'Day (UTC, YYYY-MM-DD)',
		yTitle: 'Calls (count)',
	}).then(() => {
		frame.dataset.state = 'drawn';
	}).catch(() => {
		frame.replaceChildren(el('p', { class: 'note' }, 'The chart could not be drawn here; the figures are below.'));
	});
}

function drawEndpoints(box, u) {
	const e = u.endpoints;
	const rows = e.endpoints.map((r) => [
		el('code', {}, `${r.method} ${r.endpoint}`), fmt.count(r.calls), fmt.count(r.errors),
		fmt.latency(r.latency_avg_us), fmt.latency(r.latency_p95_us),
	]);
	if (rows.length === 0)
		rows.push([`No calls from ${e.from} to ${e.to}.`]);
	box.append(table(`Per endpoint, ${e.from} to ${e.to} (UTC): ${fmt.calls(e.calls)}`,
	    [['Endpoint'], ['Calls', 'num'], ['Errors', 'num'], ['Average latency', 'num'], ['p95 latency', 'num']],
	    rows, { testid: 'admin-endpoints-table' }));
}

function revoke(cell, from, u, k) {
	ask(cell, from, [el('p', {}, `Revoke ${k.prefix}… (${k.name ?? 'no name'}) of ${u.user.email}? ` +
	    `Calls with it are refused at once on this server and ${bound()} on the others.`)],
	'Revoke key', 'danger', async () => {
		await admin.del(`${path()}/keys/${encodeURIComponent(k.id)}`);
		done(`Key ${k.prefix}… of ${u.user.email} is revoked.`);
	});
}

function drawKeys(box, u) {
	const rows = u.keys.map((k) => {
		const cell = el('div', { class: 'row-actions' });
		if (k.state !== 'revoked') {
			const b = el('button', { type: 'button', class: 'danger', testid: 'admin-key-revoke' }, 'Revoke');
			b.addEventListener('click', () => revoke(cell, b, u, k));
			cell.append(b);
		}
		return {
			attrs: { testid: 'admin-key-row', 'data-key-id': k.id, 'data-state': k.state },
			cells: [
				el('code', {}, `${k.prefix}…`),
				el('span', { testid: 'admin-key-name' }, k.name ?? '—'),
				el('span', { class: `state ${k.state}` }, k.state),
				fmt.day(k.created_at),
				k.last_used_at ? fmt.time(k.last_used_at) : 'never',
				k.expires_at ? fmt.day(k.expires_at) : 'never',
				cell,
			],
		};
	});
	if (rows.length === 0)
		rows.push(['The user has no API keys.']);
	box.append(table(`${fmt.count(u.keys.length)} ${u.keys.length === 1 ? 'key' : 'keys'} (prefixes only)`,
	    [['Prefix'], ['Name'], ['State'], ['Created (UTC)'], ['Last used'], ['Expires (UTC)'], ['Actions']],
	    rows, { testid: 'admin-keys-table' }));
}

function retry(cell, from, u, r) {
	ask(cell, from, [el('p', {}, `Send the ${fmt.money(r.amount.cents)} item of ${r.period} ` +
	    `(calls ${fmt.count(r.calls_from)} to ${fmt.count(r.calls_to)}) to Stripe again? ` +
	    'It goes back to pending, for the user’s Stripe customer now, and the next overage run sends it.')],
	'Retry', 'primary', async () => {
		await admin.post(`/api/admin/ledger/${encodeURIComponent(r.id)}/retry`, {});
		done(`The ${fmt.money(r.amount.cents)} item of ${r.period} is pending again: ` +
		    'the next overage run sends it.');
	});
}

function drawLedger(box, u) {
	const rows = u.ledger.map((r) => {
		const cell = el('div', { class: 'row-actions' });
		if (r.state === 'failed') {
			const b = el('button', { type: 'button', testid: 'admin-ledger-retry' }, 'Retry');
			b.addEventListener('click', () => retry(cell, b, u, r));
			cell.append(b);
		}
		return {
			attrs: { testid: 'admin-ledger-row', 'data-ledger-id': r.id, 'data-state': r.state },
			cells: [
				r.period, `${fmt.count(r.calls)} (${fmt.count(r.calls_from)} to ${fmt.count(r.calls_to)})`,
				fmt.money(r.amount.cents),
				el('span', { class: `state ${r.state}` }, r.state),
				r.stripe_item_id ? el('code', {}, r.stripe_item_id) : '—',
				fmt.count(r.attempts), r.last_error ?? '—',
				fmt.time(r.created_at), cell,
			],
		};
	});
	if (rows.length === 0)
		rows.push(['No overage has been billed to this user.']);
	box.append(table(`Overage ledger: the newest ${fmt.count(u.ledger_rows_max)} rows at most`,
	    [['Period'], ['Calls', 'num'], ['Amount', 'num'], ['State'], ['Stripe item'], ['Attempts', 'num'],
		['Last error'], ['Created'], ['Actions']],
	    rows, { testid: 'admin-ledger-table' }));
}

/* An audit row's detail as text: "from: free, to: pro". */
function detail(d) {
	if (d === null || d === undefined)
		return '—';
	if (typeof d !== 'object')
		return String(d);
	return Object.entries(d).map(([k, v]) =>
	    `${k}: ${v !== null && typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

function drawAudit(box, u) {
	const rows = u.audit.map((a) => ({
		attrs: { testid: 'admin-audit-row' },
		cells: [fmt.time(a.at), el('code', {}, a.actor), a.action, detail(a.detail), a.remote_addr ?? '—'],
	}));
	if (rows.length === 0)
		rows.push(['Nothing about this user in the audit log.']);
	box.append(table(`Audit log about the user: the newest ${fmt.count(u.audit_rows_max)} entries at most`,
	    [['When'], ['Who'], ['Action'], ['Detail'], ['From']], rows, { testid: 'admin-audit-table' }));
}

function draw(box, u) {
	ttl = Number.isInteger(u.key_cache_ttl) ? u.key_cache_ttl : null;
	title.textContent = u.user.email;
	document.title = `${u.user.email} · Admin · nexus-usage`;
	const parts = [
		['Account', drawAccount], ['This period', drawPeriod],
		['Calls per day, last 30 days', drawDaily], ['Endpoints, last 30 days', drawEndpoints],
		['API keys', drawKeys], ['Overage ledger', drawLedger], ['Audit log', drawAudit],
	];
	for (const [name, fn] of parts) {
		const s = section(name, { class: 'card' });
		const inner = s.appendChild(el('div'));
		fn(inner, u);
		box.append(s);
	}
}

function load() {
	return panel(content, () => admin.get(path()), draw).then(() => {
		if (content.dataset.state === 'error')
			content.append(el('p', {}, [el('a', { href: 'admin-users.html' }, 'Back to the users')]));
	});
}

admin.adminStart('admin-user.html', (main) => {
	id = new URLSearchParams(location.search).get('id');
	title = el('h1', { testid: 'admin-user-title' }, 'User');
	notice = el('div', { class: 'notice', tabindex: '-1' });
	content = el('div');
	main.append(title, el('p', {}, [el('a', { href: 'admin-users.html' }, '← All users')]), notice, content);
	if (!id) {
		content.append(el('p', { class: 'note' },
		    'No user is named in the address: open a user from the users page.'));
		return;
	}
	load();
});
