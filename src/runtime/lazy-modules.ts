/**
 * Built-in modules loaded on first use rather than when the modules that use them load: node:net
 * and node:tty bring node:stream with them (~3-4 ms here), which a foreground run needs only once
 * its runtime has started. (The build's lazy-builtins plugin covers modules used through plain
 * functions; these are used through classes.)
 */
export const net = () => process.getBuiltinModule('node:net') as typeof import('node:net');
export const tty = () => process.getBuiltinModule('node:tty') as typeof import('node:tty');
