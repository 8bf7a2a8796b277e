#!/usr/bin/env node
// Run the original face-api.js networks (npm @vladmandic/face-api, on the pure-JS tfjs CPU backend) on an input
// batch and print their outputs as JSON: the reference that tests/test_faceapi_reference.py compares the
// PyTorch port against.
//
// Usage: node scripts/faceapi_reference.mjs --models DIR --input IN.json [--prefix .cache/node] [--nets a,b]
//   IN.json: {"shape": [N, H, W, 3], "data": "<base64 of little-endian float32 RGB pixels in [0, 255]>"}
//   --prefix: the npm --prefix holding node_modules with @tensorflow/tfjs and @vladmandic/face-api
//             (default: .cache/node beside this script's repository, or $FACEAPI_NODE_PREFIX)
//   --nets: any of expression,landmarks,agegender,recognition (default: all)
// Output (stdout): {"expression": [[7]...], "landmarks": [[136]...], "age": [...], "gender": [[2]...],
//                   "recognition": [[128]...], "versions": {...}}
//
// face-api's node build requires @tensorflow/tfjs-node (a native addon); this script resolves that name to the
// pure-JS @tensorflow/tfjs instead, so nothing needs compiling.

import fs from 'node:fs';
import path from 'node:path';
import Module, { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    args[a.slice(2)] = argv[i + 1];
    i += 1;
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (!args.models || !args.input) {
  console.error('usage: node faceapi_reference.mjs --models DIR --input IN.json [--prefix DIR] [--nets LIST]');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const prefix = path.resolve(args.prefix || process.env.FACEAPI_NODE_PREFIX || path.join(here, '..', '.cache', 'node'));
const req = createRequire(path.join(prefix, 'package.json'));
const tfjsPath = req.resolve('@tensorflow/tfjs');
const originalResolve = Module._resolveFilename;
Module._resolveFilename = function resolve(request, ...rest) {
  if (request === '@tensorflow/tfjs-node') return tfjsPath;
  return originalResolve.call(this, request, ...rest);
};
const faceapi = req('@vladmandic/face-api/dist/face-api.node.js');
const { tf } = faceapi;
await tf.setBackend('cpu');
await tf.ready();

const input = JSON.parse(fs.readFileSync(args.input, 'utf8'));
const [n, h, w, c] = input.shape;
const bytes = Buffer.from(input.data, 'base64');
const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
if (values.length !== n * h * w * c) throw new Error(`input holds ${values.length} values, shape says ${n * h * w * c}`);
const batch = tf.tensor4d(values, [n, h, w, c], 'float32');
const images = tf.unstack(batch); // a list of [H, W, 3] tensors: face-api batches them itself

const wanted = (args.nets || 'expression,landmarks,agegender,recognition').split(',');
const out = { versions: { faceapi: faceapi.version, tfjs: tf.version_core, backend: tf.getBackend() } };
const modelDir = path.resolve(args.models);

if (wanted.includes('expression')) {
  const net = new faceapi.FaceExpressionNet();
  await net.loadFromDisk(modelDir);
  const probs = await net.forward(images);
  out.expression = probs.arraySync();
}
if (wanted.includes('landmarks')) {
  const net = new faceapi.FaceLandmark68Net();
  await net.loadFromDisk(modelDir);
  const rel = await net.forward(images); // [N, 136]: interleaved x, y relative to each image's width / height
  out.landmarks = rel.arraySync();
}
if (wanted.includes('agegender')) {
  const net = new faceapi.AgeGenderNet();
  await net.loadFromDisk(modelDir);
  const { age, gender } = await net.forward(images);
  out.age = age.arraySync();
  out.gender = gender.arraySync();
}
if (wanted.includes('recognition')) {
  const net = new faceapi.FaceRecognitionNet();
  await net.loadFromDisk(modelDir);
  const desc = await net.forward(images);
  out.recognition = desc.arraySync();
}
process.stdout.write(`${JSON.stringify(out)}\n`);
