// The official `openai` npm client against a live vary server, with no change to the client.
// Run by tests/test_node_client.py: VARY_BASE_URL=http://127.0.0.1:PORT VARY_PHOTO=photo.jpg
// node variations.mjs. Prints a JSON summary on stdout; exits non-zero on any failure.
import assert from "node:assert/strict";
import fs from "node:fs";
import process from "node:process";

import OpenAI from "openai";
import { VERSION } from "openai/version";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function environment(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// Width and height of a PNG, from its signature and IHDR chunk.
function pngSize(bytes, what) {
  assert.ok(bytes.length > 24, `${what}: ${bytes.length} bytes is too short for a PNG`);
  assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE, `${what}: not a PNG signature`);
  assert.equal(bytes.subarray(12, 16).toString("latin1"), "IHDR", `${what}: no IHDR chunk`);
  return `${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`;
}

async function main() {
  const baseURL = environment("VARY_BASE_URL");
  const photo = environment("VARY_PHOTO");
  const client = new OpenAI({
    baseURL: `${baseURL}/v1`,
    apiKey: "sk-no-key-needed",
    maxRetries: 0,
  });

  const inline = await client.images.createVariation({
    image: fs.createReadStream(photo),
    n: 2,
    size: "256x256",
    response_format: "b64_json",
  });
  assert.equal(inline.data.length, 2, "b64_json: expected 2 images");
  const inlineSizes = inline.data.map((item, i) => {
    assert.equal(typeof item.b64_json, "string", `b64_json[${i}]: no b64_json`);
    return pngSize(Buffer.from(item.b64_json, "base64"), `b64_json[${i}]`);
  });
  assert.notEqual(inline.data[0].b64_json, inline.data[1].b64_json, "b64_json: images are equal");

  const linked = await client.images.createVariation({
    image: fs.createReadStream(photo),
    n: 2,
    size: "256x256",
    response_format: "url",
  });
  assert.equal(linked.data.length, 2, "url: expected 2 images");
  const linkedSizes = [];
  for (const [i, item] of linked.data.entries()) {
    assert.equal(typeof item.url, "string", `url[${i}]: no url`);
    assert.ok(item.url.startsWith(`${baseURL}/images/`), `url[${i}]: ${item.url}`);
    const response = await fetch(item.url);
    assert.equal(response.status, 200, `url[${i}]: GET ${item.url} gave ${response.status}`);
    assert.equal(response.headers.get("content-type"), "image/png", `url[${i}]: content-type`);
    linkedSizes.push(pngSize(Buffer.from(await response.arrayBuffer()), `url[${i}]`));
  }

  const models = [];
  for await (const model of client.models.list()) models.push(model.id);

  console.log(
    JSON.stringify({
      openai: VERSION,
      b64_json: { count: inline.data.length, sizes: inlineSizes, created: inline.created },
      url: { count: linked.data.length, sizes: linkedSizes, created: linked.created },
      models,
    }),
  );
}

main().catch((error) => {
  console.error(error?.stack ?? String(error));
  process.exitCode = 1;
});
