import { test } from 'node:test';
import assert from 'node:assert/strict';

test("the package root resolves through package.json's exports and gives the documented functions", async () => {
  const clan = await import('clan');
  for (const f of ['loadModel', 'train', 'resolveConfig', 'evaluate', 'openDataset', 'loadInferenceModel', 'predictImage', 'main']) {
    assert.equal(typeof (clan as Record<string, unknown>)[f], 'function', f);
  }
  const cfg = clan.resolveConfig({ preset: 'cpu' });
  assert.equal(cfg.backbone, 'tiny-os4');
  assert.ok(new clan.ConfigError('x') instanceof clan.ClanError);
  assert.ok(new clan.Interrupted('x') instanceof clan.ClanError);
  // The facade of src/api.ts is what the root gives (README "Use from TypeScript").
  const api = await import('./api.js');
  assert.deepEqual([clan.loadModel, clan.train, clan.evaluate, clan.openDataset],
    [api.loadModel, api.train, api.evaluate, api.openDataset]);
  const torch = await import('clan/torch');
  assert.equal(typeof torch.tidy, 'function');
});
