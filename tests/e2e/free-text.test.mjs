// A study that asks for free text to be removed (issue 12): the patient reads the choice in plain
// words on the contribution page, and the researcher's export holds the structured data of the
// record without any narrative, note or text document.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPage, startServer } from './lib.mjs';
import { contribute, createKey, createStudy, exportStudy, fixture, ndjson } from './study-lib.mjs';

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const PASSPHRASE = 'free text goes, codes stay';

/** Paths in a resource where prose would be: narratives, notes, attachment data. */
function prosePaths(v, path = '', out = []) {
  if (Array.isArray(v)) v.forEach((c, i) => prosePaths(c, `${path}[${i}]`, out));
  else if (v && typeof v === 'object') {
    for (const [k, c] of Object.entries(v)) {
      const here = path ? `${path}.${k}` : k;
      if ((k === 'text' && c && typeof c === 'object' && 'div' in c) || k === 'note' || k === 'data') out.push(here);
      prosePaths(c, here, out);
    }
  }
  return out;
}

test('a study removing free text: the patient is told, and the export has codes but no prose', async () => {
  const researcher = await newPage(browser);
  await createKey(researcher, server.url, { label: 'Remove key', passphrase: PASSPHRASE });
  await researcher.getByTestId('publish-key').first().click();
  await researcher.getByTestId('key-published').waitFor({ timeout: 30_000 });
  const study = await createStudy(researcher, server.url, {
    passphrase: PASSPHRASE,
    title: 'Structured data only',
    purpose: 'Checks that a study can ask for notes to be removed.',
    institution: 'MedSeal test lab',
    contact: 'lab@example.org',
    k: 2,
    freeText: 'remove',
  });

  const f = fixture('Carolee951');
  const sourceDocs = f.bundle.entry.filter((e) => e.resource.resourceType === 'DocumentReference');
  assert.ok(sourceDocs.some((e) => e.resource.content?.some((c) => c.attachment?.data)), 'the fixture has notes to remove');
  assert.ok(f.bundle.entry.some((e) => e.resource.text?.div), 'the fixture has narratives to remove');
  const patient = await newPage(browser);
  await contribute(patient, study.contributionLink, f.file);
  const policy = await patient.getByTestId('study-policy').innerText();
  assert.match(policy, /notes, narratives.*removed entirely/i, 'the choice is shown in plain words');
  assert.deepEqual(patient.problems, []);
  await patient.context().close();

  const zip = await exportStudy(researcher, study.adminLink, PASSPHRASE);
  const docs = ndjson(zip, 'DocumentReference');
  assert.equal(docs.length, sourceDocs.length, 'every DocumentReference is kept, as structured data');
  const observations = ndjson(zip, 'Observation');
  const want = f.bundle.entry.filter((e) => e.resource.resourceType === 'Observation').length;
  assert.equal(observations.length, want, 'every Observation is kept');
  assert.ok(observations.every((o) => o.code?.coding?.length), 'with its codes');
  const everything = [...zip.entries()].filter(([n]) => n.startsWith('fhir/'))
    .flatMap(([, b]) => b.toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  const prose = everything.flatMap((r) => prosePaths(r).map((p) => `${r.resourceType}/${r.id} ${p}`));
  assert.deepEqual(prose, [], 'no narrative, note or attachment data in the export');
  await researcher.context().close();
});
