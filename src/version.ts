export const version: string = typeof CTR_VERSION === 'string' ? CTR_VERSION : '0.0.0-dev';
