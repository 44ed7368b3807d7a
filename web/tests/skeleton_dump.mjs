// Prints, as JSON, what web/src/geometry/skeleton.ts computes for every pose preset and a few body
// shapes: the preset's SMPL parameters and the posed joints. tests/web/test_skeleton_parity.py
// compares them with src/scenecraft/world/smpl.py (presets, rest joints, forward kinematics).
//
//   node tests/skeleton_dump.mjs

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const bundle = await build({
  entryPoints: [join(here, '..', 'src', 'geometry', 'skeleton.ts')],
  bundle: true, format: 'esm', write: false, logLevel: 'silent',
});
const sk = await import(`data:text/javascript;base64,${Buffer.from(bundle.outputFiles[0].text).toString('base64')}`);
const shapes = [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [2, -1, 1.5, -2, 1, 0, 0, 0, 0, 0]];
const out = { joint_names: sk.JOINT_NAMES, parents: sk.PARENTS, presets: {} };
for (const name of sk.PRESET_NAMES) {
  const pose = sk.presetPose(name);
  out.presets[name] = {
    body_pose: pose.body_pose,
    joints: shapes.map((betas) => sk.forwardKinematics({ ...pose, global_orient: [0.1, 0.4, -0.2], betas }).joints),
  };
}
out.shapes = shapes;
console.log(JSON.stringify(out));
