import { Command } from 'commander';
import { action } from './common';
import { FerError } from '../util/errors';

export function register(program: Command): void {
  program
    .command('models')
    .description('(not implemented yet)')
    .action(action(async () => {
      throw new FerError('fer models is not implemented yet');
    }));
}
