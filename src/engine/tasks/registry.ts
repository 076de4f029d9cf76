/**
 * Every task family by name. Configs, the CLI and the UI name tasks by these keys.
 */
import { additionTask } from './addition';
import { countdownTask } from './countdown';
import { multiplicationTask } from './multiplication';
import type { Task, TaskName } from './task';

export const TASKS: Record<TaskName, Task> = {
  addition: additionTask,
  countdown: countdownTask,
  multiplication: multiplicationTask,
};

export const TASK_NAMES = Object.keys(TASKS) as TaskName[];

export function isTaskName(name: string): name is TaskName {
  return Object.prototype.hasOwnProperty.call(TASKS, name);
}

/** The task with this name; throws, naming the allowed tasks, for any other string. */
export function getTask(name: string): Task {
  if (!isTaskName(name)) {
    throw new Error(`task: ${JSON.stringify(name)} is not a task (allowed: ${TASK_NAMES.join(', ')})`);
  }
  return TASKS[name];
}
