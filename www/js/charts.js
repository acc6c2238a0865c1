/*
 * Charts with Debian's Chart.js 3.9 (libjs-chart.js, served at
 * /javascript/chart.js/). Loaded when a chart is first drawn, so that a
 * page still shows its figures as text if it cannot be loaded. There is
 * no date adapter: days are category labels, "YYYY-MM-DD" strings in UTC.
 */
import { count } from './format.js';

let lib = null;

function chartLib() {
	lib ??= import('/javascript/chart.js/chart.esm.js').then((m) => {
		m.Chart.register(...m.registerables);
		return m.Chart;
	});
	return lib;
}

/* The value of a CSS custom property of the page, e.g. '--accent'. */
function cssVar(name) {
	return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/*
 * Draws a bar chart in canvas: series are { label, data, color } with
 * color a custom property name; stacked puts them on top of each other;
 * format writes a value for the axis and tooltips (count by default).
 * Resolves to the chart; rejects when Chart.js cannot be loaded.
 */
export async function barChart(canvas, { title, labels, series, xTitle, yTitle,
    stacked = false, format = count }) {
	const Chart = await chartLib();
	Chart.getChart(canvas)?.destroy();
	const ink = cssVar('--fg');
	const grid = cssVar('--border');
	return new Chart(canvas, {
		type: 'bar',
		data: {
			labels,
			datasets: series.map((s) => ({
				label: s.label,
				data: s.data,
				backgroundColor: cssVar(s.color),
			})),
		},
		options: {
			animation: false,
			responsive: true,
			maintainAspectRatio: false,
			color: ink,
			plugins: {
				title: { display: true, text: title, color: ink, font: { size: 15 } },
				legend: { position: 'bottom' },
				tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${format(c.parsed.y)}` } },
			},
			scales: {
				x: { stacked, title: { display: true, text: xTitle, color: ink }, grid: { display: false }, ticks: { color: ink } },
				y: {
					stacked,
					beginAtZero: true,
					title: { display: true, text: yTitle, color: ink },
					grid: { color: grid },
					ticks: { color: ink, precision: 0, callback: (v) => format(v) },
				},
			},
		},
	});
}
