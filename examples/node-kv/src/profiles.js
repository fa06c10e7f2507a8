'use strict';
// Per-variant settings. `correct` is the design as intended; the other
// variants exist so that failmodel's rows can be checked against them.

const BASE = Object.freeze({
  readCache: false,
  createMode: 'insert',
  retryWrites: false,
  sessionSettings: {},
});

const PROFILES = {
  correct: {},
  variant_a: { readCache: true },
  variant_b: { createMode: 'probe' },
  variant_c: { retryWrites: true },
  variant_d: { sessionSettings: { synchronous_commit: 'off' } },
};

const VARIANTS = Object.keys(PROFILES);

function profileFor(name) {
  if (!Object.prototype.hasOwnProperty.call(PROFILES, name)) return null;
  return Object.freeze({ ...BASE, ...PROFILES[name], name });
}

module.exports = { profileFor, VARIANTS };
