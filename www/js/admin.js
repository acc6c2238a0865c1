/*
 * The admin overview: this month's business (users, MRR, overage revenue
 * billed, pending and failed, calls, new users), users and MRR by plan
 * with a chart, the top users, and calls per day over 30 days split by
 * plan, as a chart and as text.
 */
import * as api from './api.js';
import { barChart } from './charts.js';
import { el, facts, panel, section, table } from './dom.js';
import * as fmt from './format.js';
import * as admin from './admin-frame.js';

const DAYS = 30;
const PLAN_COLORS = 4;		/* --plan-1 .. --plan-4 in portal.css */

const planColor = (i) => `--plan-${(i % PLAN_COLORS) + 1}`;

/* Draws into frame, or says in it that the figures are below. */
function chart(frame, canvas, spec) {
	barChart(canvas, spec).then(() => {
		frame.dataset.state = 'drawn';
	}).catch(() => {
		frame.replaceChildren(el('p', { class: 'note' },
		    'The chart could not be drawn here; the figures are in the table.'));
	});
}

function overage(o) {
	const m = (x) => `${fmt.money(x.cents)} (${fmt.count(x.items)} ${x.items === 1 ? 'item' : 'items'})`;
	return [
		['Overage billed', el('span', { testid: 'admin-overage-billed' }, m(o.billed))],
		['Overage pending', m(o.pending)],
		['Overage failed', el('span', { class: o.failed.items > 0 ? 'bad' : null }, m(o.failed))],
	];
}

function drawMonth(box, o) {
	box.append(el('p', { class: 'lead' }, fmt.period(o.period.start, o.period.end)));
	box.append(el('p', { class: 'big' }, [
		el('span', { testid: 'admin-mrr' }, fmt.money(o.mrr.cents)), ' MRR',
	]));
	box.append(facts([
		['Users', el('span', { testid: 'admin-users-total' }, fmt.count(o.users.total))],
		['New this month', fmt.count(o.users.new_this_month)],
		['Calls this month', el('span', { testid: 'admin-calls' }, fmt.count(o.calls_this_month))],
		...overage(o.overage_revenue),
	]));
	if (o.overage_revenue.failed.items > 0)
		box.append(el('p', { class: 'note warn' },
		    'Failed items were refused by Stripe: open the user from the users page to retry them.'));
}

function drawPlans(box, o) {
	const plans = o.users.by_plan;
	box.append(table('Users and monthly recurring revenue by plan',
	    [['Plan'], ['Users', 'num'], ['Price', 'num'], ['MRR', 'num']],
	    plans.map((p) => [p.name, fmt.count(p.users), fmt.money(p.price.cents), fmt.money(p.mrr.cents)]),
	    { testid: 'admin-plans-table' }));
	const canvas = el('canvas', {
		testid: 'admin-mrr-chart', role: 'img',
		'aria-label': 'Bar chart: MRR by plan, in US dollars a month. The figures are in the table above.',
	});
	const frame = el('div', { class: 'chart short' }, [canvas]);
	box.append(frame);
	chart(frame, canvas, {
		title: 'MRR by plan (USD a month)',
		labels: plans.map((p) => p.name),
		series: [{ label: 'MRR', data: plans.map((p) => p.mrr.cents), color: '--accent' }],
		xTitle: 'Plan',
		yTitle: 'MRR (USD)',
		format: (v) => fmt.money(Math.round(v)),
	});
}

function drawTop(box, o) {
	const names = Object.fromEntries(o.users.by_plan.map((p) => [p.plan, p.name]));
	const rows = o.top_users.map((u) => [
		el('a', { href: admin.userHref(u.id) }, u.email),
		names[u.plan] ?? u.plan, fmt.count(u.calls), fmt.money(u.revenue.cents),
	]);
	if (rows.length === 0)
		rows.push(['No calls yet this month.']);
	box.append(table('The users with the most calls this month',
	    [['User'], ['Plan'], ['Calls', 'num'], ['Revenue', 'num']], rows,
	    { testid: 'admin-top-table' }));
}

function drawDaily(box, d) {
	const canvas = el('canvas', {
		testid: 'admin-chart', role: 'img',
		'aria-label': `Stacked bar chart: calls per day by plan, ${d.from} to ${d.to} (UTC). ` +
		    'The figures are in the table below.',
	});
	const frame = el('div', { class: 'chart' }, [canvas]);
	box.append(frame);
	const busiest = d.history.reduce((b, x) => (x.calls > b.calls ? x : b), d.history[0]);
	let summary = `${d.from} to ${d.to} (UTC): ${fmt.calls(d.total.calls)}, ` +
	    `${fmt.count(d.total.errors)} ${d.total.errors === 1 ? 'error' : 'errors'}; ` +
	    d.plans.map((p) => `${p.name} ${fmt.count(d.total.by_plan[p.plan]?.calls)}`).join(', ') + '.';
	if (busiest.calls > 0)
		summary += ` Busiest day: ${busiest.date}, ${fmt.calls(busiest.calls)}.`;
	box.append(el('p', { testid: 'admin-daily-summary' }, summary));
	box.append(el('p', { class: 'muted small' },
	    'Calls are split by each user’s plan now: a plan change moves the user’s earlier days too.'));
	box.append(el('details', {}, [
		el('summary', {}, 'The figures, day by day'),
		table(`Calls per day by plan, ${d.from} to ${d.to}`,
		    [['Day (UTC)'], ['Calls', 'num'], ...d.plans.map((p) => [p.name, 'num']), ['Errors', 'num']],
		    d.history.slice().reverse().map((x) => [x.date, fmt.count(x.calls),
			...d.plans.map((p) => fmt.count(x.by_plan[p.plan]?.calls)), fmt.count(x.errors)]),
		    { testid: 'admin-daily-table' }),
	]));
	chart(frame, canvas, {
		title: `Calls per day by plan, last ${d.days} days (UTC)`,
		labels: d.history.map((x) => x.date),
		series: d.plans.map((p, i) => ({
			label: p.name,
			data: d.history.map((x) => x.by_plan[p.plan]?.calls ?? 0),
			color: planColor(i),
		})),
		xTitle: 'Day (UTC, YYYY-MM-DD)',
		yTitle: 'Calls (count)',
		stacked: true,
	});
}

admin.adminStart('admin.html', (main) => {
	const month = section('This month', { class: 'card' });
	const plans = section('By plan', { class: 'card' });
	const top = section('Top users', { class: 'card' });
	const daily = section(`Calls per day, last ${DAYS} days`, { class: 'card' });
	const boxes = [month, plans, top, daily].map((s) => s.appendChild(el('div')));
	main.append(el('h1', {}, 'Admin overview'), month, el('div', { class: 'pair' }, [plans, top]), daily);
	const overview = api.shared(() => admin.get('/api/admin/analytics/overview'));
	panel(boxes[0], overview, drawMonth);
	panel(boxes[1], overview, drawPlans);
	panel(boxes[2], overview, drawTop);
	panel(boxes[3], () => admin.get(`/api/admin/analytics/daily?days=${DAYS}`), drawDaily);
});
