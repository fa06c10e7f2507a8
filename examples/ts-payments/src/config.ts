// Configuration, read once from the environment (docs/contracts.md section 1).

export const VARIANTS = ["correct", "variant_a", "variant_b", "variant_c", "variant_d"] as const;
export type Variant = (typeof VARIANTS)[number];

export interface Config {
  mode: "serve";
  port: number;
  instanceId: string;
  databaseUrl: string;
  redisUrl: string;
  partnerUrl: string;
  variant: Variant;
}

export class ConfigError extends Error {}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === "") {
    throw new ConfigError(`missing environment variable ${name}`);
  }
  return value.trim();
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  const args = argv.slice();
  let mode: string | undefined;
  let variant: string | undefined = env.FAILMODEL_VARIANT;
  while (args.length > 0) {
    const arg = args.shift() as string;
    if (arg === "--variant") {
      variant = args.shift();
    } else if (arg.startsWith("--variant=")) {
      variant = arg.slice("--variant=".length);
    } else if (mode === undefined && !arg.startsWith("-")) {
      mode = arg;
    } else {
      throw new ConfigError(`unknown argument ${arg}`);
    }
  }
  if (mode === undefined) mode = "serve";
  if (mode !== "serve") throw new ConfigError(`unknown mode ${mode} (expected: serve)`);
  if (variant === undefined || variant === "") variant = "correct";
  if (!(VARIANTS as readonly string[]).includes(variant)) {
    throw new ConfigError(`unknown variant ${variant} (known: ${VARIANTS.join(", ")})`);
  }
  const portText = required(env, "PORT");
  const port = Number(portText);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new ConfigError(`PORT is not a port number: ${portText}`);
  }
  return {
    mode: "serve",
    port,
    instanceId: (env.INSTANCE_ID ?? "0").trim() || "0",
    databaseUrl: required(env, "DATABASE_URL"),
    redisUrl: required(env, "REDIS_URL"),
    partnerUrl: required(env, "PARTNER_URL").replace(/\/+$/, ""),
    variant: variant as Variant,
  };
}

// Deadlines (milliseconds). Every call to a store or the partner has one.
export const DEADLINES = {
  dbConnect: 2500,
  dbQuery: 3000,
  redisCommand: 300,
  redisConnect: 1000,
  pspCall: 2000,
  pspRetryPause: 250,
  lockTtl: 8000,
  lockWait: 1500,
  lockPoll: 150,
  resultTtlSeconds: 3600,
  reconcileEvery: 500,
  reconcileLease: "3 seconds",
  firstReconcileAfter: "3 seconds",
} as const;
