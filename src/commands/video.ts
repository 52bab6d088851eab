import { Command } from 'commander';
import { action } from './common';
import { FerError } from '../util/errors';

export function register(program: Command): void {
  program
    .command('video')
    .description('(not implemented yet)')
    .action(action(async () => {
      throw new FerError('fer video is not implemented yet');
    }));
}
