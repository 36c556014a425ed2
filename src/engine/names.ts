import { randomBelow } from '../random.js';

// Words for container names when --name is not given (docker's idea, our own words).
const ADJECTIVES = [
  'amber', 'bold', 'brave', 'bright', 'calm', 'clever', 'cosmic', 'crisp', 'daring', 'eager', 'fair', 'fancy',
  'gentle', 'glad', 'golden', 'happy', 'hardy', 'honest', 'jolly', 'keen', 'kind', 'lively', 'lucid', 'lucky',
  'mellow', 'merry', 'nimble', 'noble', 'patient', 'plucky', 'proud', 'quick', 'quiet', 'rapid', 'silent',
  'sleek', 'smart', 'snappy', 'steady', 'sunny', 'swift', 'tidy', 'upbeat', 'vivid', 'warm', 'wise', 'witty', 'zen',
];
const NOUNS = [
  'otter', 'falcon', 'badger', 'heron', 'lynx', 'marten', 'osprey', 'panda', 'puffin', 'raven', 'salmon', 'seal',
  'sparrow', 'tapir', 'walrus', 'wombat', 'yak', 'zebra', 'beacon', 'comet', 'delta', 'ember', 'fjord', 'glacier',
  'harbor', 'island', 'jetty', 'lagoon', 'meadow', 'nebula', 'orchard', 'prairie', 'quarry', 'ridge', 'summit',
  'tundra', 'valley', 'willow', 'canyon', 'cedar', 'maple', 'pebble', 'reef', 'spruce', 'thistle', 'vortex',
];

export function randomName(taken: Set<string>): string {
  for (let i = 0; ; i++) {
    const name = `${ADJECTIVES[randomBelow(ADJECTIVES.length)]}_${NOUNS[randomBelow(NOUNS.length)]}${i > 20 ? randomBelow(1000) : ''}`;
    if (!taken.has(name)) return name;
  }
}
