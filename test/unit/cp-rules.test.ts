import { describe, expect, it } from 'vitest';
import { parseCopyArg, planCopy, rebaseName, splitPathDirEntry } from '../../src/archive/cp.js';

describe("docker cp's path rules", () => {
  it('tells container paths from local ones as docker does', () => {
    expect(parseCopyArg('web:/etc')).toEqual({ kind: 'container', container: 'web', path: '/etc' });
    expect(parseCopyArg('web:')).toEqual({ kind: 'container', container: 'web', path: '' });
    expect(parseCopyArg('/abs/with:colon')).toEqual({ kind: 'local', path: '/abs/with:colon' });
    expect(parseCopyArg('./rel:colon')).toEqual({ kind: 'local', path: './rel:colon' });
    expect(parseCopyArg('plain')).toEqual({ kind: 'local', path: 'plain' });
    expect(parseCopyArg('-')).toEqual({ kind: 'local', path: '-' });
  });

  it('splits a path into its directory and last component, keeping dir/. as the contents', () => {
    expect(splitPathDirEntry('/a/b')).toEqual({ dir: '/a', base: 'b' });
    expect(splitPathDirEntry('/a/b/')).toEqual({ dir: '/a', base: 'b' });
    expect(splitPathDirEntry('/a/b/.')).toEqual({ dir: '/a/b', base: '.' });
    expect(splitPathDirEntry('b')).toEqual({ dir: '.', base: 'b' });
    expect(splitPathDirEntry('/')).toEqual({ dir: '/', base: '/' });
  });

  it('plans where a copy goes: into a directory, over a file, or as a new name', () => {
    const file = { isDir: false, name: 'a.txt' };
    const dir = { isDir: true, name: 'src' };
    const contents = { isDir: true, name: '.' };
    expect(planCopy(file, { path: '/d', exists: true, isDir: true })).toEqual({ dir: '/d' });
    expect(planCopy(dir, { path: '/d', exists: true, isDir: true })).toEqual({ dir: '/d' });
    expect(planCopy(file, { path: '/d/f', exists: true, isDir: false })).toEqual({ dir: '/d', rebase: { from: 'a.txt', to: 'f' } });
    expect(planCopy(file, { path: '/d/new', exists: false, isDir: false })).toEqual({ dir: '/d', rebase: { from: 'a.txt', to: 'new' } });
    expect(planCopy(dir, { path: '/d/new', exists: false, isDir: false })).toEqual({ dir: '/d', rebase: { from: 'src', to: 'new' } });
    expect(planCopy(contents, { path: '/d/new', exists: false, isDir: false })).toEqual({ dir: '/d', rebase: { from: '.', to: 'new' } });
    expect(() => planCopy(dir, { path: '/d/f', exists: true, isDir: false })).toThrow(/cannot copy a directory/);
    expect(() => planCopy(file, { path: '/d/new/', exists: false, isDir: false })).toThrow(/does not exist/);
  });

  it('renames the first member and what is below it, nothing else', () => {
    const r = { from: 'src', to: 'new' };
    expect(rebaseName('src', r)).toBe('new');
    expect(rebaseName('src/', r)).toBe('new/');
    expect(rebaseName('src/a', r)).toBe('new/a');
    expect(rebaseName('srcx/a', r)).toBe('srcx/a');
    expect(rebaseName('./a', { from: '.', to: 'new' })).toBe('new/a');
  });
});
