#!/usr/bin/env node
import { Command } from 'commander';
import { registerStartCommand } from './commands/start.js';
import { registerDevicesCommand } from './commands/devices.js';
import { registerSimulateCommand } from './commands/simulate.js';
import { registerBenchCommand } from './commands/bench.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerReplayCommand } from './commands/replay.js';
import { registerFuzzCommand } from './commands/fuzz.js';
import { registerRulesCommand } from './commands/rules.js';

const program = new Command();
program
  .name('sluice')
  .description('IoT sensor ingestion gateway: MQTT in, Kafka in the middle, InfluxDB and a live dashboard out')
  .showHelpAfterError();

registerStartCommand(program);
registerDevicesCommand(program);
registerSimulateCommand(program);
registerBenchCommand(program);
registerDemoCommand(program);
registerReplayCommand(program);
registerFuzzCommand(program);
registerRulesCommand(program);

await program.parseAsync(process.argv);
