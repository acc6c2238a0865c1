/*
 * What the admin pages share: their sub-navigation, and the admin API's
 * calls, through which a 403 replaces the page with a plain "not
 * authorised" view (and no data) for anyone who is not an administrator.
 */
import * as api from './api.js';
import { el } from './dom.js';
import { showAdmin, start } from './shell.js';

/* The admin pages, in the sub-navigation's order. */
const SECTIONS = [
	{ href: 'admin.html', testid: 'admin-nav-overview', label: 'Overview' },
	{ href: 'admin-users.html', testid: 'admin-nav-users', label: 'Users' },
];

let main = null;
let refused = false;

/* Replaces the page with the "not authorised" view, once. */
export function deny() {
	if (refused)
		return;
	refused = true;
	showAdmin(false);
	main.replaceChildren(el('section', {
		class: 'signin', testid: 'admin-denied', 'aria-labelledby': 'denied-title',
	}, [
		el('h1', { id: 'denied-title', tabindex: '-1' }, 'Not authorised'),
		el('p', {}, 'These pages are for the operators of this service. ' +
		    'Your account is not on their list, so nothing is shown here.'),
		el('p', {}, [el('a', { href: './' }, 'Back to your usage')]),
	]));
	main.querySelector('h1').focus();
}

async function call(fn) {
	try {
		const answer = await fn();
		showAdmin();
		return answer;
	} catch (e) {
		if (e.status === 403)
			deny();
		throw e;
	}
}

export const get = (path) => call(() => api.get(path));
export const put = (path, body) => call(() => api.put(path, body));
export const post = (path, body) => call(() => api.post(path, body));
export const del = (path) => call(() => api.del(path));

/* The admin user page's address for a user id. */
export const userHref = (id) => `admin-user.html?id=${encodeURIComponent(id)}`;

/*
 * Runs an admin page: draw(main) fills <main> under the sub-navigation,
 * in which here (a file name) is the current page.
 */
export function adminStart(here, draw) {
	start((m) => {
		main = m;
		refused = false;
		m.append(el('nav', { class: 'subnav', 'aria-label': 'Admin' }, [
			el('ul', {}, SECTIONS.map((s) => el('li', {}, [
				el('a', { href: s.href, testid: s.testid,
				    'aria-current': s.href === here ? 'page' : null }, s.label),
			]))),
		]));
		draw(m);
	});
}
