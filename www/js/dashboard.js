/*
 * The usage dashboard, where a sign-in link lands: this period's calls
 * against the plan, calls and errors per day over 30 days, and the
 * endpoints of the last 7 days.
 */
import * as api from './api.js';
import { barChart } from './charts.js';
import { el, facts, panel, section, table } from './dom.js';
import * as fmt from './format.js';
import { start } from './shell.js';

const HISTORY_DAYS = 30;
const ENDPOINT_DAYS = 7;

/* Pro-style plans: a monthly allowance, then a price per call. */
const billsOverage = (p) => p.monthly_calls !== null && !p.hard_limit &&
    p.overage_micros_per_call > 0;

function drawPeriod(box, c) {
	const p = c.plan;
	const limited = c.limit !== null;
	box.append(el('p', { class: 'lead' }, [
		el('span', { testid: 'plan-name' }, p.name),
		` plan · period ${fmt.period(c.period.start, c.period.end)}`,
	]));
	box.append(el('p', { class: 'big' }, [
		el('span', { testid: 'calls-used' }, fmt.count(c.calls_used)), ' of ',
		el('span', { testid: 'calls-limit' }, limited ? fmt.count(c.limit) : 'unlimited'),
		' calls',
	]));
	if (limited) {
		const bar = el('progress', {
			max: Math.max(c.limit, 1), value: Math.min(c.calls_used, c.limit),
			'aria-label': 'Calls used this period',
		});
		if (c.calls_used >= c.limit)
			bar.classList.add('full');
		box.append(bar);
	}
	box.append(facts([
		['Remaining', limited ? fmt.calls(c.remaining) : 'no monthly limit'],
		['Used', limited ? fmt.percent(c.percent_used / 100) : null],
		['Resets', fmt.time(c.resets_at)],
	]));
	if (billsOverage(p)) {
		box.append(el('p', { class: c.overage_calls > 0 ? 'note warn' : 'note' }, [
			'Overage so far: ', el('strong', {}, fmt.calls(c.overage_calls)),
			', ', el('strong', {}, fmt.money(c.overage_cost_cents)),
			` at ${fmt.microMoney(p.overage_micros_per_call)} a call past the allowance. `,
			el('a', { href: 'billing.html' }, 'See billing'),
		]));
	} else if (p.hard_limit && limited && c.calls_used >= c.limit) {
		box.append(el('p', { class: 'note warn' },
		    `The limit is reached: calls are refused until ${fmt.time(c.resets_at)}.`));
	}
}

function drawHistory(box, h) {
	const days = h.history;
	const total = days.reduce((n, d) => n + d.calls, 0);
	const errors = days.reduce((n, d) => n + d.errors, 0);
	const busiest = days.reduce((b, d) => (d.calls > b.calls ? d : b), days[0]);
	const canvas = el('canvas', {
		testid: 'usage-chart', role: 'img',
		'aria-label': `Bar chart: calls and errors per day, ${h.from} to ${h.to} (UTC). The figures are in the table below.`,
	});
	const frame = el('div', { class: 'chart' }, [canvas]);
	box.append(frame);
	let summary = `${h.from} to ${h.to} (UTC): ${fmt.calls(total)}, ${fmt.count(errors)} ${errors === 1 ? 'error' : 'errors'}.`;
	if (busiest && busiest.calls > 0)
		summary += ` Busiest day: ${busiest.date}, ${fmt.calls(busiest.calls)}.`;
	box.append(el('p', { testid: 'history-summary' }, summary));
	box.append(el('details', {}, [
		el('summary', {}, 'The figures, day by day'),
		table(`Calls and errors per day, ${h.from} to ${h.to}`,
		    [['Day (UTC)'], ['Calls', 'num'], ['Errors', 'num']],
		    days.slice().reverse().map((d) => [d.date, fmt.count(d.calls), fmt.count(d.errors)]),
		    { testid: 'history-table' }),
	]));
	barChart(canvas, {
		title: `Calls per day, last ${days.length} days (UTC)`,
		labels: days.map((d) => d.date),
		series: [
			{ label: 'Calls', data: days.map((d) => d.calls), color: '--accent' },
			{ label: 'Errors', data: days.map((d) => d.errors), color: '--danger' },
		],
		xTitle: 'Day (UTC, YYYY-MM-DD)',
		yTitle: 'Calls (count)',
	}).then(() => {
		frame.dataset.state = 'drawn';
	}).catch(() => {
		frame.replaceChildren(el('p', { class: 'note' },
		    'The chart could not be drawn here; the figures are below.'));
	});
}

function drawEndpoints(box, e) {
	const rows = e.endpoints.map((r) => [
		el('code', {}, `${r.method} ${r.endpoint}`),
		fmt.count(r.calls), fmt.percent(r.error_rate),
		fmt.latency(r.latency_avg_us), fmt.latency(r.latency_p95_us),
	]);
	if (rows.length === 0)
		rows.push([`No calls from ${e.from} to ${e.to}.`]);
	box.append(table(`Per endpoint, ${e.from} to ${e.to} (UTC): ${fmt.calls(e.calls)}`,
	    [['Endpoint'], ['Calls', 'num'], ['Error rate', 'num'],
		['Average latency', 'num'], ['p95 latency', 'num']],
	    rows, { testid: 'endpoints-table' }));
	if (e.latency_p95_note)
		box.append(el('p', { class: 'muted small' }, e.latency_p95_note));
}

start((main) => {
	const period = section('This period', { class: 'card' });
	const history = section('Calls per day', { class: 'card' });
	const endpoints = section(`Endpoints, last ${ENDPOINT_DAYS} days`, { class: 'card' });
	const boxes = [period, history, endpoints].map((s) => s.appendChild(el('div')));
	main.append(el('h1', {}, 'Usage'), period, history, endpoints);
	panel(boxes[0], () => api.get('/api/usage/current'), drawPeriod);
	panel(boxes[1], () => api.get(`/api/usage/history?days=${HISTORY_DAYS}`), drawHistory);
	panel(boxes[2], () => api.get(`/api/usage/endpoints?days=${ENDPOINT_DAYS}`), drawEndpoints);
});
