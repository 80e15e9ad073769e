/**
 * A sleep that something else can cut short: the event streams (`GET /v1/events`, JMAP's
 * EventSource) sleep between polls and are woken at once by the event bus or by the client going
 * away. A wake while nobody sleeps is dropped: the stream reads the store right after anyway.
 */
export class Waker {
  private wakeUp: (() => void) | undefined;

  wake(): void {
    this.wakeUp?.();
  }

  async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeUp = undefined;
  }
}
