/*
 * API keys: the list (prefix, name, dates, state), creating a key with a
 * name and an optional expiry (the whole key shown once, with a copy
 * button), rotating with a grace period, and revoking after an in-page
 * confirmation. Only GET/POST /api/keys, POST /api/keys/{id}/rotate and
 * DELETE /api/keys/{id} are used.
 */
import * as api from './api.js';
import { ask, el, panel, section, table } from './dom.js';
import * as fmt from './format.js';
import { start } from './shell.js';

const NAME_MAX = 100;
const GRACES = [
	[0, 'No grace: the old key stops now'],
	[3600, '1 hour'],
	[86400, '1 day'],
	[7 * 86400, '7 days'],
];

let ttl = null;		/* key_cache_ttl, seconds, once the server says */
let listBox = null;
let notice = null;

function bound() {
	return ttl === null ?
	    'within the key cache lifetime (key_cache_ttl in the server configuration)' :
	    `within ${fmt.count(ttl)} ${ttl === 1 ? 'second' : 'seconds'}`;
}

function refusedText() {
	return `A revoked key is refused at once by the server that revoked it, and by every server ${bound()}.`;
}

/* The whole key, once: a copy button and a plain warning. */
function showKey(title, answer) {
	const code = el('code', { testid: 'key-new', class: 'secret' }, answer.key);
	const copy = el('button', { type: 'button', testid: 'key-copy' }, 'Copy key');
	const done = el('button', { type: 'button' }, 'I have stored it');
	const said = el('span', { role: 'status', class: 'muted' });
	copy.addEventListener('click', async () => {
		try {
			await navigator.clipboard.writeText(answer.key);
			said.textContent = 'Copied.';
		} catch {
			getSelection().selectAllChildren(code);
			said.textContent = 'Selected: press Ctrl+C (or \u2318C) to copy.';
		}
	});
	done.addEventListener('click', () => notice.replaceChildren());
	notice.replaceChildren(el('div', { class: 'newkey', role: 'region', 'aria-labelledby': 'newkey-title' }, [
		el('h2', { id: 'newkey-title' }, title),
		el('p', { class: 'warn' }, [el('strong', {}, 'Copy this key now. It will not be shown again: '),
		    'the server keeps only a hash of it and its prefix. If you lose it, create another one.']),
		el('p', {}, [code]),
		el('p', { class: 'actions' }, [copy, done, said]),
	]));
	copy.focus();
}

function createForm() {
	const name = el('input', {
		id: 'key-name', name: 'name', type: 'text', maxlength: NAME_MAX,
		autocomplete: 'off', testid: 'key-name', 'aria-describedby': 'key-name-help',
	});
	const tomorrow = new Date(Date.now() + 86400000).toISOString().slice(0, 10);
	const expires = el('input', { id: 'key-expires', name: 'expires', type: 'date', min: tomorrow, testid: 'key-expires' });
	const problem = el('p', { class: 'field-error', role: 'alert', testid: 'key-error' });
	const button = el('button', { type: 'submit', class: 'primary', testid: 'key-create' }, 'Create key');
	const form = el('form', { class: 'create' }, [
		el('div', { class: 'field' }, [
			el('label', { for: 'key-name' }, 'Name'),
			name,
			el('p', { id: 'key-name-help', class: 'muted small' }, `Optional, up to ${NAME_MAX} characters: what the key is for.`),
		]),
		el('div', { class: 'field' }, [
			el('label', { for: 'key-expires' }, 'Expires on (UTC, optional)'),
			expires,
		]),
		el('div', { class: 'field' }, [button]),
		problem,
	]);
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		problem.textContent = '';
		const body = {};
		if (name.value.trim() !== '')
			body.name = name.value.trim();
		if (expires.value !== '')
			body.expires_at = expires.value;
		button.disabled = true;
		button.textContent = 'Creating…';
		try {
			const answer = await api.post('/api/keys', body);
			form.reset();
			showKey('Your new key', answer);
			loadList();
		} catch (e) {
			if (e.status !== 401)
				problem.textContent = `The key was not created: ${e.message}`;
		} finally {
			button.disabled = false;
			button.textContent = 'Create key';
		}
	});
	return form;
}

function revoke(cell, from, k) {
	ask(cell, from, [el('p', {}, `Revoke ${k.prefix}…? ${refusedText()}`)], 'Revoke key', 'danger', async () => {
		const answer = await api.del(`/api/keys/${encodeURIComponent(k.id)}`);
		if (Number.isInteger(answer.key_cache_ttl))
			ttl = answer.key_cache_ttl;
		notice.replaceChildren(el('p', { class: 'note', role: 'status', testid: 'key-revoked' },
		    `Key ${k.prefix}… is revoked. ${refusedText()}`));
		loadList();
	});
}

function rotate(cell, from, k) {
	const id = `grace-${k.id}`;
	const grace = el('select', { id }, GRACES.map(([s, t]) => el('option', { value: s }, t)));
	grace.value = '86400';
	ask(cell, from, [
		el('p', {}, `Rotate ${k.prefix}…: a new key replaces it.`),
		el('label', { for: id }, 'The old key keeps working for'), grace,
	], 'Rotate key', 'primary', async () => {
		const answer = await api.post(`/api/keys/${encodeURIComponent(k.id)}/rotate`,
		    { grace_seconds: Number(grace.value) });
		showKey(`The key replacing ${k.prefix}…`, answer);
		loadList();
	});
}

function actions(k) {
	const cell = el('div', { class: 'row-actions' });
	if (k.state !== 'active' && k.state !== 'rotating')
		return cell;
	const rot = el('button', { type: 'button', testid: 'key-rotate' }, 'Rotate');
	const rev = el('button', { type: 'button', class: 'danger', testid: 'key-revoke' }, 'Revoke');
	rot.addEventListener('click', () => rotate(cell, rot, k));
	rev.addEventListener('click', () => revoke(cell, rev, k));
	if (k.state === 'active')
		cell.append(rot);
	cell.append(rev);
	return cell;
}

function drawList(box, answer) {
	if (Number.isInteger(answer.key_cache_ttl))
		ttl = answer.key_cache_ttl;
	const keys = answer.keys ?? [];
	const rows = keys.map((k) => ({
		attrs: { testid: 'key-row', 'data-key-id': k.id, 'data-state': k.state },
		cells: [
			el('code', { testid: 'key-prefix' }, `${k.prefix}…`),
			el('span', { testid: 'key-row-name' }, k.name || '—'),
			fmt.day(k.created_at),
			k.last_used_at ? fmt.time(k.last_used_at) : 'never',
			k.expires_at ? fmt.day(k.expires_at) : 'never',
			el('span', { class: `state ${k.state}` }, k.state),
			actions(k),
		],
	}));
	if (rows.length === 0)
		rows.push(['You have no keys yet: create one above.']);
	box.append(table(`${fmt.count(keys.length)} ${keys.length === 1 ? 'key' : 'keys'}`,
	    [['Prefix'], ['Name'], ['Created (UTC)'], ['Last used'], ['Expires (UTC)'], ['State'], ['Actions']],
	    rows, { testid: 'keys-table' }));
	box.append(el('p', { class: 'muted small', testid: 'key-bound' }, refusedText()));
}

function loadList() {
	return panel(listBox, () => Promise.all([api.get('/api/keys'), api.portalConfig()])
	    .then(([keys, cfg]) => {
		if (Number.isInteger(cfg.key_cache_ttl))
			ttl = cfg.key_cache_ttl;
		return keys;
	}), drawList);
}

start((main) => {
	const create = section('Create a key', { class: 'card' });
	const list = section('Your keys', { class: 'card' });
	notice = el('div', { class: 'notice' });
	listBox = el('div');
	create.append(el('p', { class: 'muted' },
	    'Send a key with each call as X-API-Key: nx_live_… or Authorization: Bearer nx_live_…'), createForm());
	list.append(listBox);
	main.append(el('h1', {}, 'API keys'), notice, create, list);
	loadList();
});
