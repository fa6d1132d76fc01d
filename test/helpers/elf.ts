// Reads just enough of an ELF file to tell whether it is statically linked.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const PT_INTERP = 3;

/** Fails unless `path` is an ELF binary with no PT_INTERP program header (no dynamic loader). */
export function assertStaticElf(path: string): void {
  const elf = readFileSync(path);
  assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
  const is64 = elf[4] === 2;
  const little = elf[5] === 1;
  const u16 = (at: number): number => (little ? elf.readUInt16LE(at) : elf.readUInt16BE(at));
  const u32 = (at: number): number => (little ? elf.readUInt32LE(at) : elf.readUInt32BE(at));
  const u64 = (at: number): number => Number(little ? elf.readBigUInt64LE(at) : elf.readBigUInt64BE(at));
  const phoff = is64 ? u64(0x20) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  assert.ok(phnum > 0, 'no program headers');
  const types = Array.from({ length: phnum }, (_, i) => u32(phoff + i * phentsize));
  assert.ok(!types.includes(PT_INTERP), `PT_INTERP present: dynamically linked (types ${types.join(',')})`);
}
