/** Replaced by the bundler (build.mjs); undefined when running from source under vitest. */
declare const CTR_VERSION: string;
declare const CTR_BUNDLED: boolean;
