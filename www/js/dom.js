/*
 * Building the page: el() makes elements from text (textContent only:
 * nothing the API or a user typed is ever parsed as HTML), panel() gives
 * every request its three looks: loading, the data, or an error that says
 * what to do next, and ask() confirms an action in the page.
 */

/*
 * el('td', { class: 'num', testid: 'calls-used' }, '12,345'). The third
 * argument is text, or an array of nodes and strings (strings become text
 * nodes). Listeners go through addEventListener, never attributes.
 */
export function el(tag, attrs = {}, content) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k === 'testid')
			e.dataset.testid = v;
		else if (k.startsWith('on'))
			throw new Error(`el: ${k}: use addEventListener`);
		else
			e.setAttribute(k, v === true ? '' : String(v));
	}
	if (Array.isArray(content))
		e.append(...content.filter((c) => c !== null && c !== undefined));
	else if (content !== undefined && content !== null)
		e.textContent = String(content);
	return e;
}

/* The URL when it is http(s), else null: config URLs end up in href. */
export function safeUrl(u) {
	try {
		const url = new URL(u, location.href);
		return url.protocol === 'https:' || url.protocol === 'http:' ?
		    url.href : null;
	} catch {
		return null;
	}
}

/* What to do about an error, by its kind. */
function advice(e) {
	if (e.status === 0)
		return 'Check your connection, then try again.';
	if (e.status === 403)
		return 'Your account may not use this page.';
	if (e.status === 429)
		return 'Too many requests: wait a minute, then try again.';
	if (e.status >= 500)
		return 'The service is having trouble; try again in a minute.';
	return 'Try again; if it keeps happening, contact support with the message above.';
}

/* A readable error with a "Try again" button when retry is given. */
export function errorBox(e, retry) {
	const said = e.message.charAt(0).toUpperCase() + e.message.slice(1);
	const box = el('div', { class: 'error', role: 'alert', 'data-state': 'error' }, [
		el('p', {}, [el('strong', {}, 'Could not load this.'),
		    ` ${said}${/[.!?]$/.test(said) ? '' : '.'}`]),
		el('p', {}, advice(e)),
	]);
	if (retry) {
		const b = el('button', { type: 'button' }, 'Try again');
		b.addEventListener('click', retry);
		box.append(b);
	}
	return box;
}

/*
 * Fills box from load() through draw(box, data): "Loading…" first, then
 * the data, or an error with a retry. A 401 draws nothing: the sign-in
 * view has taken the page.
 */
export async function panel(box, load, draw) {
	const run = async () => {
		box.setAttribute('aria-busy', 'true');
		box.dataset.state = 'loading';
		box.replaceChildren(el('p', { class: 'loading', role: 'status' }, 'Loading…'));
		try {
			const data = await load();
			box.replaceChildren();
			draw(box, data);
			box.dataset.state = 'ready';
		} catch (e) {
			if (e.status === 401)
				return;
			box.replaceChildren(errorBox(e, run));
			box.dataset.state = 'error';
		} finally {
			box.removeAttribute('aria-busy');
		}
	};
	return run();
}

/* A <section> with its heading; the heading names the section for readers. */
export function section(title, attrs = {}) {
	const id = `h-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
	return el('section', { 'aria-labelledby': id, ...attrs }, [
		el('h2', { id }, title),
	]);
}

/* A <dl> from [term, value] pairs; value is text or a node. */
export function facts(pairs) {
	const dl = el('dl', { class: 'facts' });
	for (const [k, v] of pairs) {
		if (v === null || v === undefined)
			continue;
		dl.append(el('div', {}, [el('dt', {}, k),
		    v instanceof Node ? el('dd', {}, [v]) : el('dd', {}, v)]));
	}
	return dl;
}

/*
 * A table: columns are [heading, class?]; a row is an array of cells (text
 * or nodes), or { attrs, cells }; a row of one cell spans the table. Each
 * cell carries its heading for the narrow, stacked layout.
 */
export function table(caption, columns, rows, attrs = {}) {
	const head = el('tr', {}, columns.map(([h, cls]) =>
	    el('th', { scope: 'col', class: cls }, h)));
	const body = el('tbody', {}, rows.map((row) => {
		const cells = Array.isArray(row) ? row : row.cells;
		const tr = el('tr', Array.isArray(row) ? {} : row.attrs);
		/* One cell spans the row: "nothing here yet". */
		if (cells.length === 1 && columns.length > 1) {
			tr.append(el('td', { colspan: columns.length, class: 'whole' }, cells[0]));
			return tr;
		}
		cells.forEach((c, i) => {
			const [h, cls] = columns[i];
			tr.append(el('td', { 'data-label': h, class: cls },
			    c instanceof Node ? [c] : c));
		});
		return tr;
	}));
	return el('table', { class: 'stack', ...attrs }, [
		el('caption', {}, caption), el('thead', {}, [head]), body,
	]);
}

/*
 * Asks in the page, right under at (in a table, in a row of its own under
 * at's row): parts say what will happen, confirmText names the button
 * that does it (class cls), act() does it and may throw an ApiError,
 * shown in the question. Cancel (or asking again) takes the question away
 * and gives the focus back to from.
 */
export function ask(at, from, parts, confirmText, cls, act) {
	const tr = at.closest('tr');
	const after = tr ?? at;
	const old = after.nextElementSibling;
	if (old?.classList.contains('confirm-row') || old?.classList.contains('confirm'))
		old.remove();
	const yes = el('button', { type: 'button', class: cls, testid: 'confirm' }, confirmText);
	const no = el('button', { type: 'button', testid: 'cancel' }, 'Cancel');
	const said = el('p', { class: 'field-error', role: 'alert' });
	const box = el('div', { class: tr ? 'confirm' : 'confirm block', role: 'group', 'aria-label': confirmText },
	    [...parts, el('p', { class: 'actions' }, [yes, no]), said]);
	const question = tr ? el('tr', { class: 'confirm-row' }, [
		el('td', { colspan: tr.cells.length, class: 'whole' }, [box]),
	]) : box;
	no.addEventListener('click', () => {
		question.remove();
		from.focus();
	});
	yes.addEventListener('click', async () => {
		yes.disabled = no.disabled = true;
		try {
			await act();
		} catch (e) {
			yes.disabled = no.disabled = false;
			if (e.status !== 401)
				said.textContent = e.message;
		}
	});
	after.after(question);
	yes.focus();
	return question;
}
