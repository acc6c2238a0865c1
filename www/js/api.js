/*
 * The portal's one way to the JSON API: the token (kept in sessionStorage
 * only, so it dies with the tab), fetch, JSON errors, and the rule that a
 * 401 forgets the token and sends the user to the sign-in view.
 */

const TOKEN_KEY = 'nexus.portal.token';
const TOKEN_MAX = 8192;
let unauthorized = null;

export class ApiError extends Error {
	constructor(status, code, message) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

export function token() {
	try {
		return sessionStorage.getItem(TOKEN_KEY);
	} catch {
		return null;
	}
}

export function setToken(t) {
	sessionStorage.setItem(TOKEN_KEY, t);
}

export function forget() {
	try {
		sessionStorage.removeItem(TOKEN_KEY);
	} catch {
		/* storage disabled: nothing was kept */
	}
}

/* fn(error) runs when the server refuses the token. */
export function onUnauthorized(fn) {
	unauthorized = fn;
}

/* A JWT is three base64url parts (RFC 7519 3); the server judges the rest. */
export function tokenShapeOk(t) {
	return typeof t === 'string' && t.length <= TOKEN_MAX &&
	    /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(t);
}

/*
 * The token's exp in milliseconds, or null. Unverified: it only picks the
 * words of the sign-in view once the server has refused the token.
 */
export function tokenExpiry(t) {
	try {
		const part = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
		const exp = JSON.parse(atob(part)).exp;
		return Number.isFinite(exp) ? exp * 1000 : null;
	} catch {
		return null;
	}
}

async function request(method, path, body) {
	const t = token();
	if (!t) {
		const e = new ApiError(401, 'missing_token', 'You are not signed in.');
		unauthorized?.(e);
		throw e;
	}
	const init = {
		method,
		headers: { Accept: 'application/json', Authorization: `Bearer ${t}` },
		cache: 'no-store',
		credentials: 'omit',
	};
	if (body !== undefined) {
		init.headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(path, init);
	} catch {
		throw new ApiError(0, 'network', 'The server could not be reached.');
	}
	let data = null;
	try {
		data = await res.json();
	} catch {
		/* not JSON: said below */
	}
	if (res.ok)
		return data ?? {};
	const err = data?.error ?? {};
	const e = new ApiError(res.status, err.code ?? `http_${res.status}`,
	    err.message ?? `The server answered ${res.status} with no explanation.`);
	if (res.status === 401) {
		forget();
		unauthorized?.(e, t);
	}
	throw e;
}

export const get = (path) => request('GET', path);
export const post = (path, body = {}) => request('POST', path, body);
export const put = (path, body = {}) => request('PUT', path, body);
export const del = (path) => request('DELETE', path);

/*
 * One request for several panels: fn() runs once, and again only after a
 * failure, so that each panel's "Try again" asks anew.
 */
export function shared(fn) {
	let p = null;
	return () => (p ??= fn().catch((e) => {
		p = null;
		throw e;
	}));
}

/* GET for what the API may not offer yet: null when there is no such endpoint. */
export async function optional(path) {
	try {
		return await get(path);
	} catch (e) {
		if (e.status === 404 || e.status === 405)
			return null;
		throw e;
	}
}

/*
 * The portal's settings, which need no token: login_url, upgrade_url,
 * key_cache_ttl and the plans. {} when the server does not say.
 */
let settings = null;
export function portalConfig() {
	settings ??= fetch('/api/portal/config', {
		headers: { Accept: 'application/json' },
		cache: 'no-store',
		credentials: 'omit',
	}).then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
	return settings;
}
