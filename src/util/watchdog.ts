/**
 * A stall timer: fires `onFire` when `kick` has not been called for `ms`. Drivers kick it on every sign of progress
 * (bytes sent or received) and stop it while progress is not the peer's to make (the caller paused a download), so a
 * timeout means "the peer stopped moving", never "the transfer is long" or "our consumer is slow".
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly ms: number,
    private readonly onFire: () => void,
  ) {}

  /** (Re)starts the countdown. */
  kick(): void {
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.onFire, this.ms);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
