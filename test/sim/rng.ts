// A small seeded PRNG (xoshiro128**): the simulation's only source of randomness.

export class Rng {
  private s: Uint32Array
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    this.s = new Uint32Array(4)
    let x = seed >>> 0
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      this.s[i] = (z ^ (z >>> 16)) >>> 0
    }
  }
  next(): number {
    const s = this.s
    const result = Math.imul(rotl(Math.imul(s[1] as number, 5) >>> 0, 7), 9) >>> 0
    const t = ((s[1] as number) << 9) >>> 0
    s[2] = (s[2] as number) ^ (s[0] as number)
    s[3] = (s[3] as number) ^ (s[1] as number)
    s[1] = (s[1] as number) ^ (s[2] as number)
    s[0] = (s[0] as number) ^ (s[3] as number)
    s[2] = (s[2] as number) ^ t
    s[3] = rotl(s[3] as number, 11)
    return result / 2 ** 32
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}
