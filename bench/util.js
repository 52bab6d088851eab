'use strict';
// Small helpers shared by the bench/*.js scripts.
const os = require('os');

/** Value of `--name VALUE` on the command line, or `fallback`. */
function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** The 1/5/15-minute load averages, printed next to every figure: the machine is often shared. */
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

module.exports = { arg, load, median };
