import { Command } from 'commander';
import { action } from './common';
import { FerError } from '../util/errors';

export function register(program: Command): void {
  program
    .command('train')
    .description('(not implemented yet)')
    .action(action(async () => {
      throw new FerError('fer train is not implemented yet');
    }));
}
