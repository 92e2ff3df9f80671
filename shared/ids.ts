/** Crockford's base32, as ULIDs spell them. */
const ENCODING = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

let lastTime = -1;
/** the random part of the last id, one base32 digit per byte */
const random = new Uint8Array(16);

/**
 * ULIDs sort by creation time, which gives FIFO order for runs and attempts for free. Made here rather than by the
 * ulid package (the same ids: monotonic within a millisecond, as its monotonicFactory makes them) because that
 * package imports node:crypto, which alone costs each agent about 6 MiB of RSS; Web Crypto's random bytes cost none.
 */
export function newId(): string {
  const now = Date.now();
  if (now > lastTime) {
    lastTime = now;
    crypto.getRandomValues(random);
    // 256 is a multiple of 32: the digits stay uniform
    for (let i = 0; i < random.length; i++) random[i]! &= 31;
  } else {
    // the same millisecond (or a clock that went back): the last id's random part plus one
    let i = random.length - 1;
    while (i >= 0 && random[i] === 31) random[i--] = 0;
    if (i < 0) throw new Error("ULID overflow: 2^80 ids in one millisecond");
    random[i]!++;
  }
  let id = "";
  for (let t = lastTime, n = 0; n < 10; n++, t = Math.floor(t / 32)) id = ENCODING[t % 32] + id;
  for (const digit of random) id += ENCODING[digit];
  return id;
}
