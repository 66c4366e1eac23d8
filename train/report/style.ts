/** The report page's stylesheet, embedded in every report.html (no external CSS or fonts). */

export const FONT = `system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif`;

export const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #111827; font: 14px/1.5 ${FONT}; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 48px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header .sub { color: #4b5563; margin: 0 0 16px; }
.tag { display: inline-block; padding: 1px 8px; border-radius: 999px; background: #e0e7ff; color: #3730a3;
  font-size: 12px; font-weight: 600; margin-right: 6px; vertical-align: 2px; }
.tag.scratch { background: #fef3c7; color: #92400e; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(120px, 1fr)); gap: 10px; margin: 0 0 20px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 12px 14px; }
.card .k { color: #6b7280; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
section { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 16px 18px; margin: 0 0 16px; }
section h2 { font-size: 17px; margin: 0 0 12px; }
.chart svg { display: block; width: 100%; height: auto; }
.chart + .chart { margin-top: 12px; border-top: 1px solid #f3f4f6; padding-top: 12px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px;
  margin: 0 0 16px; }
.grid2 > section { margin: 0; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; text-align: left; border-bottom: 1px solid #f3f4f6; vertical-align: top; }
th { color: #4b5563; font-weight: 600; }
td.num, th.num { text-align: right; }
.settings td:first-child { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: #374151;
  white-space: nowrap; }
.settings td:last-child { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  word-break: break-all; }
.settings { width: 100%; }
.cm { border-collapse: separate; border-spacing: 4px; }
.cm td.cell { width: 130px; height: 76px; text-align: center; vertical-align: middle; border-radius: 8px;
  border: none; }
.cm td.cell b { display: block; font-size: 20px; }
.cm td.cell span { font-size: 12px; }
.cm th { text-align: center; border: none; font-size: 12px; vertical-align: middle; }
.cm td { vertical-align: middle; border: none; }
.cm th.rowh { text-align: right; }
.cm .axis { color: #6b7280; font-weight: 500; text-transform: uppercase; letter-spacing: .04em; font-size: 11px; }
.muted { color: #6b7280; }
ul.notes { margin: 0; padding-left: 20px; }
footer { color: #9ca3af; font-size: 12px; text-align: center; margin-top: 24px; }
@media (max-width: 520px) { .grid2 { grid-template-columns: 1fr; } }
`;
