/** where the monotonic clock is on the wall clock: moved only as far as keeps `preciseNow` in Date.now()'s millisecond */
let offset = performance.timeOrigin;
let last = 0;

/**
 * Epoch milliseconds with a fraction, for the stamps of a span measured in fractions of a millisecond (a task ready →
 * its first log byte stored): from whole milliseconds such a span reads half a millisecond long on average. The
 * fraction is the monotonic clock's, kept within the wall clock's millisecond: a stamp's floor is Date.now() as it
 * was then, so against whole-millisecond stamps it falls in the millisecond they would have given.
 */
export function preciseNow(): number {
  const mono = performance.now();
  const wall = Date.now();
  let at = offset + mono;
  if (at < wall || at >= wall + 1) {
    // the clocks drifted apart, or the wall clock was set: into the wall clock's millisecond, keeping the fraction
    // (a stamp put on the millisecond's edge would read as a whole one)
    at = wall + (at - Math.floor(at));
    offset = at - mono;
  }
  // nor does it go back as the offset moves down (the wall clock's next millisecond came late)
  if (at < last && at > last - 1) at = last;
  last = at;
  return at;
}
