// A labelled text-like field with its bounds shown and its error right under it (role=alert).
// Number fields are plain text inputs with a numeric keyboard: what is typed stays as typed.

import type { ReactNode } from 'react';

interface Props {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  hint?: ReactNode;
  error?: string | null;
  numeric?: boolean;
  decimal?: boolean;
  placeholder?: string;
  disabled?: boolean;
}

export function Field({ id, label, value, onChange, hint, error, numeric, decimal, placeholder, disabled }: Props) {
  const described = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={error ? 'field bad' : 'field'}>
      <label htmlFor={id}>{label}</label>
      <input id={id} value={value} placeholder={placeholder} disabled={disabled}
        inputMode={numeric ? (decimal ? 'decimal' : 'numeric') : undefined} autoComplete="off"
        aria-invalid={error ? true : undefined} aria-describedby={described}
        onChange={(e) => onChange(e.target.value)} />
      {hint && <small id={`${id}-hint`} className="hint">{hint}</small>}
      {error && <small id={`${id}-error`} className="field-error" role="alert">{error}</small>}
    </div>
  );
}
