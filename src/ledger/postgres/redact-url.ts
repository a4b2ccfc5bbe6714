/** The database URL with its password replaced, for messages, logs and `doctor`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url.trim());
    if (parsed.password !== '') parsed.password = '***';
    // libpq also takes the password as a query parameter.
    for (const key of [...parsed.searchParams.keys()]) if (/pass/i.test(key)) parsed.searchParams.set(key, '***');
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
