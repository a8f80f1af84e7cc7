import { InvalidArgumentError } from 'commander';
import { loadConfig, type Config, type LoadConfigOptions } from '../core/config.js';

/** Loads the configuration or exits with the one message that names every bad variable. */
export function configOrExit(options: LoadConfigOptions = {}): Readonly<Config> {
  try {
    return loadConfig(process.env, options);
  } catch (error) {
    console.error(`sluice: ${(error as Error).message}`);
    process.exit(2);
  }
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

export function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}
