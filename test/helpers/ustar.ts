// Tar headers written by hand, for archives generated as they are sent (too large to build on disk first).

/** A ustar header of one regular file (mode 0644, owned 0:0). */
export function ustarFileHeader(name: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  const octal = (offset: number, length: number, value: number) =>
    block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
  block.write(name, 0, 100, 'utf8');
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, Math.trunc(Date.parse('2024-01-01T00:00:00Z') / 1000));
  block.write('0', 156, 1, 'ascii');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  octal(329, 8, 0);
  octal(337, 8, 0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}
