/*
 * The frame every page shares: the header and its navigation (entries
 * marked admin are shown to administrators only), taking the token from a
 * sign-in link, the sign-in view, and signing out. A page module calls
 * start(draw); draw(main, me) fills <main> once the user is signed in.
 */
import * as api from './api.js';
import { el, safeUrl } from './dom.js';

/* The portal's pages, in the navigation's order. */
const PAGES = [
	{ href: './', file: 'index.html', testid: 'nav-usage', label: 'Usage' },
	{ href: 'billing.html', testid: 'nav-billing', label: 'Billing' },
	{ href: 'keys.html', testid: 'nav-keys', label: 'API keys' },
	{ href: 'admin.html', testid: 'nav-admin', label: 'Admin', admin: true,
	    also: ['admin-users.html', 'admin-user.html'] },
];

const reasons = {
	none: ['Sign in',
	    'You are not signed in. Open the portal from the sign-in link that your account gives you, or paste a token below.'],
	signedout: ['You have signed out',
	    'This browser tab no longer holds your token. Sign in again to come back.'],
	malformed: ['That sign-in link did not work',
	    'The link did not hold a valid token: it may have been cut short when it was copied. Ask for a new link, or paste a token below.'],
	expired: ['Your sign-in has expired',
	    'Sign-in tokens last a limited time. Sign in again to continue.'],
	refused: ['Your sign-in was refused',
	    'The server did not accept your token. Sign in again to continue.'],
};

let draw = null;

/*
 * Moves a token from the address bar ("#token=...") to sessionStorage at
 * once, so that it is not bookmarked, shared or kept in history. Returns
 * null (no token in the link), 'ok' or 'malformed'.
 */
function takeLinkToken() {
	const params = new URLSearchParams(location.hash.slice(1));
	if (!params.has('token'))
		return null;
	const t = params.get('token');
	history.replaceState(history.state, '', location.pathname + location.search);
	if (!api.tokenShapeOk(t))
		return 'malformed';
	api.setToken(t);
	return 'ok';
}

function header() {
	const here = location.pathname.split('/').pop() || 'index.html';
	const signout = el('button', { type: 'button', testid: 'signout' }, 'Sign out');
	signout.addEventListener('click', () => {
		api.forget();
		signin('signedout');
	});
	document.querySelector('header.top').replaceChildren(
		el('a', { class: 'brand', href: './' }, 'nexus-usage'),
		el('nav', { 'aria-label': 'Portal', 'data-signed-in': true, hidden: true }, [
			el('ul', {}, PAGES.map((p) => el('li', { 'data-admin': p.admin, hidden: p.admin }, [
				el('a', { href: p.href, testid: p.testid,
				    'aria-current': (p.file ?? p.href) === here || p.also?.includes(here) ?
					'page' : null }, p.label),
			]))),
		]),
		el('div', { class: 'account', 'data-signed-in': true, hidden: true }, [
			el('span', { testid: 'account' }), signout,
		]));
}

function chrome(signedIn) {
	for (const e of document.querySelectorAll('[data-signed-in]'))
		e.hidden = !signedIn;
}

/* Shows (or hides) the navigation's entries for administrators. */
export function showAdmin(shown = true) {
	for (const e of document.querySelectorAll('[data-admin]'))
		e.hidden = !shown;
}

/*
 * Fills in who is signed in, and shows the admin entries to
 * administrators. Without /api/me nothing is known: an admin page shows
 * them once the admin API has answered.
 */
async function account() {
	let me = null;
	try {
		me = await api.optional('/api/me');
	} catch {
		/* the page's own requests report errors */
	}
	document.querySelector('[data-testid="account"]').textContent =
	    me ? (me.email ?? me.user_id ?? '') : '';
	if (me)
		showAdmin(me.admin === true);
	return me;
}

function signinView(reason, detail) {
	const [title, text] = reasons[reason] ?? reasons.none;
	const view = el('section', { testid: 'signin', class: 'signin', 'aria-labelledby': 'signin-title' }, [
		el('h1', { id: 'signin-title', tabindex: '-1' }, title),
		el('p', { 'data-reason': reason }, text),
	]);
	if (detail)
		view.append(el('p', { class: 'muted' }, `The server said: ${detail}.`));
	const login = el('p', { class: 'login' });
	view.append(login);
	api.portalConfig().then((cfg) => {
		const url = cfg.login_url ? safeUrl(cfg.login_url) : null;
		if (url)
			login.replaceChildren(el('a', { class: 'button primary', href: url, testid: 'login-link' },
			    'Sign in with your account'));
	});

	const input = el('textarea', {
		id: 'paste-token', name: 'token', rows: 3, required: true,
		autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'paste-help',
	});
	const problem = el('p', { class: 'field-error', role: 'alert' });
	const form = el('form', { class: 'paste' }, [
		el('label', { for: 'paste-token' }, 'Or paste a sign-in token'),
		el('p', { id: 'paste-help', class: 'muted' },
		    'A token is a long text of three parts separated by dots. It stays in this tab only, until you sign out or close the tab.'),
		input, problem,
		el('button', { type: 'submit', class: 'primary', testid: 'signin-submit' }, 'Sign in'),
	]);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const t = input.value.trim();
		if (!api.tokenShapeOk(t)) {
			problem.textContent = 'That is not a token: a token is three parts separated by dots, with no spaces.';
			input.focus();
			return;
		}
		api.setToken(t);
		app();
	});
	view.append(form);
	return view;
}

/* Replaces the page with the sign-in view. */
export function signin(reason, detail) {
	const main = document.getElementById('main');
	chrome(false);
	main.replaceChildren(signinView(reason, detail));
	main.querySelector('h1').focus();
}

function refused(e, t) {
	if (e.code === 'missing_token')
		return signin('none');
	const exp = t ? api.tokenExpiry(t) : null;
	const expired = (exp !== null && exp <= Date.now()) || /expired/i.test(e.message);
	signin(expired ? 'expired' : 'refused', e.message);
}

function app() {
	const main = document.getElementById('main');
	chrome(true);
	main.replaceChildren();
	const me = account();
	draw(main, me);
}

/* Runs the page: draw(main, mePromise) once a token is held. */
export function start(pageDraw) {
	draw = pageDraw;
	api.onUnauthorized(refused);
	header();
	/* A new link pasted into the address bar of an open page. */
	window.addEventListener('hashchange', () => {
		const r = takeLinkToken();
		if (r === 'ok')
			app();
		else if (r === 'malformed')
			signin('malformed');
	});
	const link = takeLinkToken();
	if (link === 'malformed')
		signin('malformed');
	else if (!api.token())
		signin('none');
	else
		app();
}
