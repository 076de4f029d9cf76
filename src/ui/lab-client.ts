/** The app's one trainer client, writing into the app's store. */
import { useLab } from './store/use-lab';
import { TrainerClient } from './trainer-client';

export const labClient = new TrainerClient(useLab);
