// The API said 503 with Retry-After: the browser reloads by itself after that many seconds.
export function RetryLater({ seconds }: { seconds: number }) {
  const wait = Math.min(Math.max(Math.ceil(seconds), 1), 60);
  return (
    <main className="message" data-testid="retry">
      <meta httpEquiv="refresh" content={String(wait)} />
      <h1>Listings are briefly unavailable</h1>
      <p>This page will reload in {wait} s.</p>
    </main>
  );
}
