// Named error classes shared by every layer. Each carries a `cause` where one exists.

export class UnibusError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Where in a source file something is: 1-based line and column. */
export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

/**
 * Bad input in a YAML file (inventory, playbook, role) or a template.
 * The message always reads `file:line:col: path: problem (expected ...)`.
 */
export class ConfigError extends UnibusError {
  constructor(
    readonly pos: SourcePos,
    readonly path: string,
    readonly problem: string,
    readonly expected?: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${pos.file}:${pos.line}:${pos.col}: ${path || '(root)'}: ${problem}` +
        (expected ? ` (expected ${expected})` : ''),
      options,
    );
  }
}

/** Several config errors found in one pass; the message lists them all. */
export class ConfigErrors extends UnibusError {
  constructor(readonly errors: ConfigError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}
