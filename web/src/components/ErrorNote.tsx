// An error shown in place, read out by screen readers when it appears.
export function ErrorNote({ error, id }: { error: string | null; id?: string }) {
  if (!error) return null;
  return <p className="error" role="alert" id={id}>{error}</p>;
}

export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));
