/*
 * The admin users page: the users table that the API serves page by page,
 * searched by email or id, filtered by plan and sorted. The page's state
 * is its address (admin-users.html?search=&plan=&sort=&order=&page=
 * &per_page=), so that a view can be bookmarked and the back button
 * returns to the view before.
 */
import { el, panel, section, table } from './dom.js';
import * as fmt from './format.js';
import * as admin from './admin-frame.js';

const SEARCH_MAX = 100;
const DEFAULTS = { search: '', plan: '', sort: 'created', order: 'desc', page: '1', per_page: '25' };
const SORTS = [
	['created', 'desc', 'Newest first'],
	['created', 'asc', 'Oldest first'],
	['calls', 'desc', 'Most calls this month'],
	['calls', 'asc', 'Fewest calls this month'],
	['revenue', 'desc', 'Most revenue this month'],
	['revenue', 'asc', 'Least revenue this month'],
	['email', 'asc', 'Email, A to Z'],
	['email', 'desc', 'Email, Z to A'],
];
/* The API's direction when only a sort is given. */
const ORDER_OF = { created: 'desc', calls: 'desc', revenue: 'desc', email: 'asc' };
const PER_PAGE = ['25', '50', '100'];

let form = null;
let results = null;
let heading = null;
let seq = 0;
let listening = false;	/* to the back and forward buttons */

/* The state in the address bar, with the defaults filled in. */
function state() {
	const q = new URLSearchParams(location.search);
	const s = {};
	for (const [k, v] of Object.entries(DEFAULTS))
		s[k] = q.get(k) ?? v;
	if (!q.has('order'))
		s.order = ORDER_OF[s.sort] ?? DEFAULTS.order;
	return s;
}

/* The query of a state: what differs from the defaults, in a fixed order. */
function query(s) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(DEFAULTS)) {
		const dflt = k === 'order' ? (ORDER_OF[s.sort] ?? v) : v;
		if (s[k] !== undefined && s[k] !== '' && s[k] !== dflt)
			q.set(k, s[k]);
	}
	const text = q.toString();
	return text === '' ? '' : `?${text}`;
}

const href = (s) => `admin-users.html${query(s)}`;

/* Shows state s: the address bar gets it (a new history entry), then the data. */
function go(s, focus) {
	history.pushState(null, '', href(s));
	show(focus);
}

function field(id, label, control) {
	return el('div', { class: 'field' }, [el('label', { for: id }, label), control]);
}

function makeForm() {
	const search = el('input', {
		id: 'admin-search', name: 'search', type: 'search', maxlength: SEARCH_MAX,
		autocomplete: 'off', spellcheck: 'false', testid: 'admin-search',
		placeholder: 'email or eco_usr_…',
	});
	const plan = el('select', { id: 'admin-plan', name: 'plan', testid: 'admin-plan-filter' },
	    [el('option', { value: '' }, 'All plans')]);
	const sort = el('select', { id: 'admin-sort', name: 'sort', testid: 'admin-sort' },
	    SORTS.map(([k, o, t]) => el('option', { value: `${k}:${o}` }, t)));
	const per = el('select', { id: 'admin-per-page', name: 'per_page', testid: 'admin-per-page' },
	    PER_PAGE.map((n) => el('option', { value: n }, n)));
	const f = el('form', { class: 'filters', role: 'search', 'aria-label': 'Users' }, [
		field('admin-search', 'Search by email or user id', search),
		field('admin-plan', 'Plan', plan),
		field('admin-sort', 'Order', sort),
		field('admin-per-page', 'Per page', per),
		el('div', { class: 'field submit' }, [
			el('button', { type: 'submit', class: 'primary', testid: 'admin-search-submit' }, 'Show'),
		]),
	]);
	const apply = () => {
		const [k, o] = sort.value.split(':');
		go({ search: search.value.trim(), plan: plan.value, sort: k, order: o,
		    page: '1', per_page: per.value });
	};
	f.addEventListener('submit', (ev) => {
		ev.preventDefault();
		apply();
	});
	for (const s of [plan, sort, per])
		s.addEventListener('change', apply);
	return f;
}

/* Puts state s in the form; a value it does not offer is added, marked so. */
function sync(s) {
	const set = (sel, value, text) => {
		if (![...sel.options].some((o) => o.value === value))
			sel.append(el('option', { value }, text));
		sel.value = value;
	};
	form.elements.search.value = s.search;
	set(form.elements.plan, s.plan, `${s.plan} (unknown)`);
	set(form.elements.sort, `${s.sort}:${s.order}`, `${s.sort}, ${s.order} (unknown)`);
	set(form.elements.per_page, s.per_page, s.per_page);
}

/* The plans the API offers, in the filter (keeping the choice). */
function plans(list) {
	const sel = form.elements.plan, value = sel.value;
	sel.replaceChildren(el('option', { value: '' }, 'All plans'),
	    ...list.map((p) => el('option', { value: p.plan }, p.name)));
	if (![...sel.options].some((o) => o.value === value))
		sel.append(el('option', { value }, `${value} (unknown)`));
	sel.value = value;
}

function pageLink(s, page, text, testid, rel) {
	return el('a', { href: href({ ...s, page: String(page) }), testid, rel, 'data-page': page }, text);
}

function pager(s, a) {
	const last = Math.max(a.pages, 1);
	const items = [];
	const add = (ok, page, text, testid, rel) => items.push(el('li', {}, [ok ?
	    pageLink(s, page, text, testid, rel) :
	    el('span', { class: 'off', 'aria-disabled': 'true', testid }, text)]));
	add(a.page > 1, 1, '« First', 'admin-first-page');
	add(a.page > 1, Math.min(a.page - 1, last), '‹ Previous', 'admin-prev-page', 'prev');
	items.push(el('li', { class: 'where' }, `Page ${fmt.count(a.page)} of ${fmt.count(last)}`));
	add(a.page < a.pages, a.page + 1, 'Next ›', 'admin-next-page', 'next');
	add(a.page < a.pages, last, 'Last »', 'admin-last-page');
	const nav = el('nav', { class: 'pager', 'aria-label': 'Pages of users' }, [el('ul', {}, items)]);
	nav.addEventListener('click', (ev) => {
		const link = ev.target.closest('a[data-page]');
		if (!link || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey)
			return;
		ev.preventDefault();
		go({ ...s, page: link.dataset.page }, true);
	});
	return nav;
}

function drawUsers(box, a, s) {
	plans(a.plans ?? []);
	const first = (a.page - 1) * a.per_page + 1;
	const shown = a.users.length;
	let caption = a.total === 0 ? 'No users match.' :
	    shown === 0 ? `This page is past the last one: ${fmt.count(a.total)} users match.` :
	    `Users ${fmt.count(first)} to ${fmt.count(first + shown - 1)} of ${fmt.count(a.total)}`;
	if (a.filters.search !== null)
		caption += ` (search: “${a.filters.search}”)`;
	const names = Object.fromEntries((a.plans ?? []).map((p) => [p.plan, p.name]));
	const rows = a.users.map((u) => ({
		attrs: { testid: 'admin-user-row', 'data-user-id': u.id },
		cells: [
			el('a', { href: admin.userHref(u.id), testid: 'admin-user-email' }, u.email),
			el('span', { testid: 'admin-user-row-plan', 'data-plan': u.plan }, names[u.plan] ?? u.plan),
			fmt.count(u.calls), fmt.count(u.overage_calls), fmt.money(u.revenue.cents),
			fmt.day(u.created_at), u.last_call_at ? fmt.time(u.last_call_at) : 'never',
		],
	}));
	if (rows.length === 0)
		rows.push([a.total === 0 ? 'No users match these filters.' : 'Nothing on this page.']);
	box.append(table(caption,
	    [['Email'], ['Plan'], ['Calls', 'num'], ['Overage calls', 'num'], ['Revenue', 'num'],
		['Created (UTC)'], ['Last call']],
	    rows, { testid: 'admin-users-table', 'data-page': a.page, 'data-pages': a.pages,
		'data-total': a.total }));
	box.append(pager(s, a));
	box.append(el('p', { class: 'muted small' },
	    'Calls, overage and revenue are this month’s (UTC); revenue is the plan’s price plus the overage so far.'));
}

/* Draws the state in the address bar: form, then data. */
function show(focus) {
	const s = state();
	const mine = ++seq;
	sync(s);
	const q = new URLSearchParams({ page: s.page, per_page: s.per_page, sort: s.sort, order: s.order });
	if (s.plan !== '')
		q.set('plan', s.plan);
	if (s.search !== '')
		q.set('search', s.search);
	panel(results, async () => {
		const a = await admin.get(`/api/admin/analytics/users?${q}`);
		if (mine !== seq)
			return new Promise(() => {});	/* a later view replaced this one */
		return a;
	}, (box, a) => {
		drawUsers(box, a, s);
		if (focus)
			heading.focus();
	}).then(() => {
		if (results.dataset.state === 'error')
			results.append(el('p', {}, [el('a', { href: 'admin-users.html' }, 'Show all users'),
			    ' (the first page, with no search or filter).']));
	});
}

admin.adminStart('admin-users.html', (main) => {
	const list = section('Users', { class: 'card' });
	heading = list.querySelector('h2');
	heading.setAttribute('tabindex', '-1');
	form = makeForm();
	results = el('div', { class: 'results' });
	list.append(form, results);
	main.append(el('h1', {}, 'Admin: users'), list);
	if (!listening)
		window.addEventListener('popstate', () => show(false));
	listening = true;
	show(false);
});
