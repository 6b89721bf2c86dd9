/** A wait that ends after `ms` or as soon as `wake()` is called (a stop, a freed slot). */
export class Pause {
  private waking: (() => void) | undefined

  /** Resolves after `ms`, or at the next `wake()`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake(), ms)
      this.waking = () => {
        clearTimeout(timer)
        this.waking = undefined
        resolve()
      }
    })
  }

  /** Ends the wait under way, if any. */
  wake(): void {
    this.waking?.()
  }
}
