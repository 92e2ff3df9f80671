export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** resolves to the process exit code */
  run(argv: string[]): Promise<number>;
}
