// An esbuild plugin that takes clipanion's work off the start of every ctr command: its state
// machine simplification looks for duplicate transitions with linear scans (quadratic in a
// command's options: ~7 ms of `ctr run`; sets give the same machine), it copied every option's
// transitions once per option (see ARITY_BEFORE), and loading it opened
// standard input and loaded node:tty and node:net for a default context ctr never uses (~4 ms).
// The build fails when clipanion's text is not the one patched here (e.g. after an upgrade).
import { readFile } from 'node:fs/promises';

const DEDUP_BEFORE = `        const shortcuts = new Set(nodeDef.shortcuts.map(({ to }) => to));
        while (nodeDef.shortcuts.length > 0) {
            const { to } = nodeDef.shortcuts.shift();
            const toDef = input.nodes[to];
            for (const [segment, transitions] of Object.entries(toDef.statics)) {
                const store = !Object.prototype.hasOwnProperty.call(nodeDef.statics, segment)
                    ? nodeDef.statics[segment] = []
                    : nodeDef.statics[segment];
                for (const transition of transitions) {
                    if (!store.some(({ to }) => transition.to === to)) {
                        store.push(transition);
                    }
                }
            }
            for (const [test, transition] of toDef.dynamics)
                if (!nodeDef.dynamics.some(([otherTest, { to }]) => test === otherTest && transition.to === to))
                    nodeDef.dynamics.push([test, transition]);
`;

const DEDUP_AFTER = `        const shortcuts = new Set(nodeDef.shortcuts.map(({ to }) => to));
        const staticTargets = new Map();
        const dynamicTargets = new Map();
        const targetsOf = (map, key) => {
            let targets = map.get(key);
            if (targets === undefined)
                map.set(key, targets = new Set());
            return targets;
        };
        for (const [test, { to }] of nodeDef.dynamics)
            targetsOf(dynamicTargets, test).add(to);
        while (nodeDef.shortcuts.length > 0) {
            const { to } = nodeDef.shortcuts.shift();
            const toDef = input.nodes[to];
            for (const [segment, transitions] of Object.entries(toDef.statics)) {
                const store = !Object.prototype.hasOwnProperty.call(nodeDef.statics, segment)
                    ? nodeDef.statics[segment] = []
                    : nodeDef.statics[segment];
                if (!staticTargets.has(segment))
                    staticTargets.set(segment, new Set(store.map(({ to }) => to)));
                const targets = staticTargets.get(segment);
                for (const transition of transitions) {
                    if (!targets.has(transition.to)) {
                        store.push(transition);
                        targets.add(transition.to);
                    }
                }
            }
            for (const [test, transition] of toDef.dynamics) {
                const targets = targetsOf(dynamicTargets, test);
                if (!targets.has(transition.to)) {
                    nodeDef.dynamics.push([test, transition]);
                    targets.add(transition.to);
                }
            }
`;

// An option's last value led to a node of its own with a shortcut back to the node the option
// started from, and the simplification copied every transition of that node (all the command's
// options) into it: for each option, at each place options may appear (~10 ms of `ctr run`).
// The last value now leads straight back to that node, which accepts the same input.
const ARITY_BEFORE = `                for (let t = 0; t < option.arity; ++t) {
                    const nextNode = injectNode(machine, makeNode());`;

const ARITY_AFTER = `                for (let t = 0; t < option.arity; ++t) {
                    const nextNode = t + 1 === option.arity ? node : injectNode(machine, makeNode());`;

const SHORTCUT_BEFORE = `                // In the end, we register a shortcut from
                // the last node back to the starting node
                registerShortcut(machine, lastNode, node);
`;

const DEFAULT_CONTEXT_BEFORE = `Cli.defaultContext = {
    env: process.env,
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    colorDepth: platform.getDefaultColorDepth(),
};`;

const DEFAULT_CONTEXT_AFTER = `Cli.defaultContext = {
    env: process.env,
    get stdin() { return process.stdin; },
    get stdout() { return process.stdout; },
    get stderr() { return process.stderr; },
    get colorDepth() { return platform.getDefaultColorDepth(); },
};`;

// A spread would read every getter of the default context and of ctr's own (its stdin is lazy too).
const MERGE_BEFORE = `        const context = {
            ...Cli.defaultContext,
            ...userContext,
        };`;

const MERGE_AFTER = `        const context = Object.defineProperties({}, {
            ...Object.getOwnPropertyDescriptors(Cli.defaultContext),
            ...Object.getOwnPropertyDescriptors(userContext !== null && userContext !== void 0 ? userContext : {}),
        });`;

const TTY_BEFORE = [`var tty = require('tty');\n`, `var tty__default = /*#__PURE__*/_interopDefaultLegacy(tty);\n`, `function getDefaultColorDepth() {\n`];
const TTY_AFTER = [``, ``, `function getDefaultColorDepth() {\n    const tty__default = _interopDefaultLegacy(require('tty'));\n`];

/** Replaces `before` by `after` in `text`, failing unless `before` occurs exactly `times` times. */
function replace(text, before, after, where, times = 1) {
  const parts = text.split(before);
  if (parts.length !== times + 1) throw new Error(`${where}: the text to patch is there ${parts.length - 1} times, not ${times}; check scripts/clipanion-patch.mjs against this clipanion version`);
  return parts.join(after);
}

/** The patched text of the clipanion file at `path`, or undefined for the files left as they are. */
export function patchClipanion(path, text) {
  if (/[\\/]lib[\\/]core\.js$/.test(path)) return replace(replace(replace(text, DEDUP_BEFORE, DEDUP_AFTER, path), ARITY_BEFORE, ARITY_AFTER, path), SHORTCUT_BEFORE, '', path);
  if (/[\\/]lib[\\/]advanced[\\/]Cli\.js$/.test(path)) {
    // process() and run() both merge the contexts.
    return replace(replace(text, DEFAULT_CONTEXT_BEFORE, DEFAULT_CONTEXT_AFTER, path), MERGE_BEFORE, MERGE_AFTER, path, 2);
  }
  if (/[\\/]lib[\\/]platform[\\/]node\.js$/.test(path)) return TTY_BEFORE.reduce((t, before, i) => replace(t, before, TTY_AFTER[i], path), text);
  return undefined;
}

/** The files patchClipanion must have patched in a bundle that includes clipanion. */
const PATCHED = ['lib/core.js', 'lib/advanced/Cli.js', 'lib/platform/node.js'];

export const clipanionPatch = {
  name: 'clipanion-patch',
  setup(build) {
    const patched = new Set();
    build.onLoad({ filter: /[\\/]clipanion[\\/]lib[\\/].*\.js$/ }, async (args) => {
      const contents = patchClipanion(args.path, await readFile(args.path, 'utf8'));
      if (contents === undefined) return undefined;
      patched.add(PATCHED.find((p) => args.path.replaceAll('\\', '/').endsWith(p)));
      return { contents, loader: 'js' };
    });
    build.onEnd((result) => {
      const missing = PATCHED.filter((p) => !patched.has(p));
      if (result.errors.length === 0 && missing.length > 0) throw new Error(`clipanion's ${missing.join(', ')} were not bundled: scripts/clipanion-patch.mjs did not patch them`);
    });
  },
};
