#!/usr/bin/env node
import { Command } from 'commander';
import { registerStartCommand } from './commands/start.js';
import { registerDevicesCommand } from './commands/devices.js';

const program = new Command();
program
  .name('sluice')
  .description('IoT sensor ingestion gateway: MQTT in, Kafka in the middle, InfluxDB and a live dashboard out')
  .showHelpAfterError();

registerStartCommand(program);
registerDevicesCommand(program);

await program.parseAsync(process.argv);
