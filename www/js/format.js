/*
 * How the portal writes figures: counts with thousands separators, money
 * from integer cents (never a float), durations from microseconds, and
 * times in UTC, saying so.
 */

const counts = new Intl.NumberFormat('en-US');
const tenths = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const percents = new Intl.NumberFormat('en-US', {
	style: 'percent', minimumFractionDigits: 0, maximumFractionDigits: 2,
});

/* "12,345"; "—" when the API gave no number. */
export function count(n) {
	return Number.isFinite(n) ? counts.format(n) : '—';
}

/* "$4,705.00" from 470500 cents, by integer arithmetic. */
export function money(cents) {
	if (!Number.isInteger(cents))
		return '—';
	const a = Math.abs(cents);
	const s = `$${counts.format(Math.floor(a / 100))}.${String(a % 100).padStart(2, '0')}`;
	return cents < 0 ? `−${s}` : s;
}

/* A price per call from micro-dollars: 1000 -> "$0.001". */
export function microMoney(micros) {
	if (!Number.isInteger(micros) || micros < 0)
		return '—';
	const frac = String(micros % 1000000).padStart(6, '0').replace(/0{1,4}$/, '');
	return `$${counts.format(Math.floor(micros / 1000000))}.${frac}`;
}

/* "1.25 %" from the API's ratio ("0.0125"). */
export function percent(ratio) {
	const v = Number(ratio);
	return ratio === null || ratio === undefined || !Number.isFinite(v) ?
	    '—' : percents.format(v);
}

/* "850 µs", "12.3 ms", "1.2 s" from microseconds. */
export function latency(us) {
	if (!Number.isFinite(us))
		return '—';
	if (us < 1000)
		return `${counts.format(us)} µs`;
	if (us < 1000000)
		return `${tenths.format(us / 1000)} ms`;
	return `${tenths.format(us / 1000000)} s`;
}

function utc(iso) {
	const d = new Date(iso);
	return iso && !Number.isNaN(d.getTime()) ? d.toISOString() : null;
}

/* "2025-11-01" (for columns headed "UTC"). */
export function day(iso) {
	return utc(iso)?.slice(0, 10) ?? '—';
}

/* "2025-11-01 UTC". */
export function dayUtc(iso) {
	const s = utc(iso);
	return s ? `${s.slice(0, 10)} UTC` : '—';
}

/* "2025-11-01 14:03 UTC". */
export function time(iso) {
	const s = utc(iso);
	return s ? `${s.slice(0, 10)} ${s.slice(11, 16)} UTC` : '—';
}

/* A billing period from its start and (exclusive) end: "2025-11-01 to 2025-11-30 (UTC)". */
export function period(start, end) {
	const last = Date.parse(end) - 1;
	return `${day(start)} to ${Number.isNaN(last) ? '—' : day(new Date(last).toISOString())} (UTC)`;
}

/* "1 call", "12,345 calls". */
export function calls(n) {
	return `${count(n)} ${n === 1 ? 'call' : 'calls'}`;
}

/*
 * Dollars as typed ("25", "25.5", "$1,000.00") to integer cents, by
 * string arithmetic: never a float. Null when it is not an amount.
 */
export function dollarsToCents(text) {
	const m = /^\$?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?$/.exec(text.trim().replace(/^\$\s*/, '$'));
	if (!m)
		return null;
	const whole = m[1].replace(/,/g, '');
	if (whole.length > 9)
		return null;
	return Number(whole) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}
