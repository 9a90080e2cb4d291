import { test } from 'node:test';
import assert from 'node:assert/strict';

test("the package root resolves through package.json's exports and gives the documented functions", async () => {
  const clan = await import('clan');
  for (const f of ['train', 'resolveConfig', 'evaluate', 'openDataset', 'loadInferenceModel', 'predictImage', 'main']) {
    assert.equal(typeof (clan as Record<string, unknown>)[f], 'function', f);
  }
  const cfg = clan.resolveConfig({ preset: 'cpu' });
  assert.equal(cfg.backbone, 'tiny-os4');
  assert.ok(new clan.ConfigError('x') instanceof clan.ClanError);
  const torch = await import('clan/torch');
  assert.equal(typeof torch.tidy, 'function');
});
